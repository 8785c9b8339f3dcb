// What both ends of a file transfer share: the view the tray shows, progress and speed, and
// the messages on a transfer's data channel (docs/api/p2p.md).

export type TransferState =
  | 'offered' // incoming, waiting for the user
  | 'waiting' // outgoing, waiting for the receiver
  | 'active'
  | 'interrupted' // the channel broke; it resumes from the acknowledged offset
  | 'verifying'
  | 'done'
  | 'failed'
  | 'cancelled'
  | 'declined'
  | 'offline' // outgoing, never accepted: the receiving device's socket went away
  | 'withdrawn' // outgoing, never accepted: the room left peer-to-peer mode

export interface Transfer {
  /** `${id}:${remoteConn}`: an offer to a room reaches several devices. */
  key: string
  id: string
  direction: 'in' | 'out'
  name: string
  size: number
  mime: string
  room: number
  peerUser: number
  remoteConn: number
  state: TransferState
  /** Bytes the receiver has written (acknowledged, on the sending side). */
  done: number
  /** Bytes per second over the last few seconds, measured at `speedAt` (performance.now()). */
  speed: number
  speedAt: number
  sha256: string | null
  error: string | null
  downloadUrl: string | null
  /** How often the transfer went on from where a broken channel left it, and the last offset. */
  resumes: number
  resumedFrom: number
  /** The received file was saved (its card may then go away on its own). */
  saved: boolean
}

const FINISHED: TransferState[] = ['done', 'failed', 'cancelled', 'declined', 'offline', 'withdrawn']

export function isFinished(t: Pick<Transfer, 'state'>): boolean {
  return FINISHED.includes(t.state)
}

/** A finished card that holds nothing the person still needs (a received file not yet saved). */
export function mayGoAway(t: Pick<Transfer, 'state' | 'direction' | 'downloadUrl' | 'saved'>): boolean {
  return isFinished(t) && !(t.direction === 'in' && t.state === 'done' && t.downloadUrl !== null && !t.saved)
}

export const CHUNK = 64 * 1024
/** Bytes read from the file at once, cut into chunks. */
export const READ = 1024 * 1024
/** Sent but not yet written by the receiver: bounds memory on both sides. */
export const WINDOW = 8 * 1024 * 1024
/** Pause sending while the channel's own buffer holds more than this. */
export const BUFFER_HIGH = 4 * 1024 * 1024
export const BUFFER_LOW = 1024 * 1024
/** The receiver acknowledges at least this often. */
export const ACK_EVERY = 1024 * 1024
export const LABEL_PREFIX = 'pf:'

export const MAX_NAME = 255
export const MAX_PENDING_OFFERS = 20

/** Control messages on a transfer's channel (text frames; file bytes are binary frames). */
export type Control =
  | { resume: number }
  | { ack: number }
  | { done: number; sha256: string }
  | { verified: boolean }
  | { cancel: true }

export function parseControl(text: string): Control | null {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return null
  }
  if (typeof value !== 'object' || value === null) return null
  const v = value as Record<string, unknown>
  const count = (x: unknown) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0
  if (count(v.resume)) return { resume: v.resume as number }
  if (count(v.ack)) return { ack: v.ack as number }
  if (count(v.done) && typeof v.sha256 === 'string' && /^[0-9a-f]{64}$/.test(v.sha256)) {
    return { done: v.done as number, sha256: v.sha256 }
  }
  if (typeof v.verified === 'boolean') return { verified: v.verified }
  if (v.cancel === true) return { cancel: true }
  return null
}

export interface OfferSignal {
  id: string
  name: string
  size: number
  mime: string
}

/** A `file-offer` signal's fields, or null when malformed. */
export function parseOffer(data: Record<string, unknown>): OfferSignal | null {
  const { id, name, size, mime } = data
  if (typeof id !== 'string' || !/^[\w-]{8,64}$/.test(id)) return null
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_NAME) return null
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) return null
  if (typeof mime !== 'string' || mime.length > 200) return null
  return { id, name, size, mime }
}

/** Speed over a sliding window of (time, bytes) samples. */
export class SpeedMeter {
  private samples: [number, number][] = []

  constructor(private readonly windowMs = 3000) {}

  add(now: number, bytes: number): number {
    this.samples.push([now, bytes])
    while (this.samples.length > 2 && now - (this.samples[0] as [number, number])[0] > this.windowMs) this.samples.shift()
    const [t0, b0] = this.samples[0] as [number, number]
    return now > t0 ? ((bytes - b0) * 1000) / (now - t0) : 0
  }

  reset(): void {
    this.samples = []
  }
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`
  const units = ['KB', 'MB', 'GB', 'TB']
  let value = n / 1024
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`
}

/** "12 s left", "3 min left"; empty when unknown. */
export function formatTimeLeft(remaining: number, speed: number): string {
  if (speed <= 0 || remaining <= 0) return ''
  const seconds = Math.ceil(remaining / speed)
  if (seconds < 60) return `${seconds} s left`
  if (seconds < 3600) return `${Math.ceil(seconds / 60)} min left`
  return `${(seconds / 3600).toFixed(1)} h left`
}

export function percent(t: Pick<Transfer, 'done' | 'size'>): number {
  return t.size === 0 ? 100 : Math.floor((t.done * 100) / t.size)
}
