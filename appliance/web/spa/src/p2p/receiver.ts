// The receiving end of a transfer: opens the data channel (so it decides where to resume),
// writes each chunk to the sink in order, hashes what it wrote, acknowledges, and after a
// broken channel opens a new one asking for the bytes after the last one it wrote.
import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex } from '@noble/hashes/utils.js'
import type { FileSink } from './fileSink'
import type { Peer } from './peers'
import { testHooks } from './testHooks'
import { ACK_EVERY, LABEL_PREFIX, parseControl, SpeedMeter, type Transfer } from './transfer'

const RETRY_MS = [500, 1000, 2000, 4000, 8000, 15_000]
const FLUSH_AT = 1024 * 1024
const OPEN_TIMEOUT_MS = 20_000

function join(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0] as Uint8Array
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const part of parts) {
    out.set(part, at)
    at += part.length
  }
  return out
}

export class Receiving {
  private channel: RTCDataChannel | null = null
  private readonly hasher = sha256.create()
  private written = 0
  /** Bytes received but maybe not yet written (they queue on `writing`). */
  private received = 0
  private lastAck = 0
  private writing: Promise<void> = Promise.resolve()
  /** Received chunks not yet handed to the sink. */
  private pending: Uint8Array[] = []
  private pendingBytes = 0
  private retries = 0
  private brokeOnce = false
  private opened = false
  private finished = false
  private unstall: (() => void) | null = null
  private readonly meter = new SpeedMeter()

  constructor(
    private readonly view: Transfer,
    private readonly sink: FileSink,
    private readonly connect: () => Promise<Peer>,
    /** Whether the sender's device still has a socket (so that it can be reached). */
    private readonly senderOnline: () => Promise<boolean>,
    private readonly onFinish: () => void,
  ) {}

  start(): void {
    this.open().catch(() => this.retry())
  }

  private async open(): Promise<void> {
    if (this.finished) return
    await this.writing
    if (!(await this.senderOnline())) throw new Error('The sender is offline.')
    const peer = await this.connect()
    if (this.finished) return
    const channel = peer.openChannel(LABEL_PREFIX + this.view.id)
    this.channel = channel
    this.received = this.written
    channel.binaryType = 'arraybuffer'
    // A sender that went away never answers: give up on this channel and try again.
    setTimeout(() => {
      if (channel.readyState !== 'connecting') return
      channel.close()
      channel.onclose?.(new Event('close')) // a never-opened channel may not fire it
    }, OPEN_TIMEOUT_MS)
    channel.onopen = () => {
      if (this.opened) {
        this.view.resumes++
        this.view.resumedFrom = this.written
      }
      this.opened = true
      this.retries = 0
      this.view.state = 'active'
      this.meter.reset()
      channel.send(JSON.stringify({ resume: this.written }))
    }
    channel.onmessage = ({ data }) => {
      if (channel !== this.channel) return
      if (typeof data === 'string') void this.control(data)
      else this.chunk(channel, new Uint8Array(data as ArrayBuffer))
    }
    channel.onclose = () => {
      if (channel !== this.channel || this.finished) return
      this.flush(channel) // what arrived is good: resume after it
      this.channel = null
      this.view.state = 'interrupted'
      this.retry()
    }
  }

  cancel(): void {
    this.send({ cancel: true })
    void this.finish('cancelled')
  }

  private retry(): void {
    if (this.finished) return
    this.view.state = 'interrupted'
    const delay = RETRY_MS[this.retries++]
    if (delay === undefined) {
      void this.finish('failed', 'The connection to the sender was lost; what had arrived was discarded.')
      return
    }
    setTimeout(() => this.start(), delay)
  }

  private chunk(channel: RTCDataChannel, bytes: Uint8Array): void {
    this.received += bytes.length
    if (this.received > this.view.size) {
      this.send({ cancel: true })
      void this.finish('failed', 'The sender sent more than the file’s size.')
      return
    }
    this.pending.push(bytes)
    this.pendingBytes += bytes.length
    if (this.pendingBytes >= FLUSH_AT || this.received === this.view.size) this.flush(channel)
  }

  /** Writes what arrived as one piece: a disk write per 64 KiB chunk costs far more. */
  private flush(channel: RTCDataChannel): void {
    if (!this.pending.length) return
    const parts = this.pending
    this.pending = []
    this.pendingBytes = 0
    this.writing = this.writing.then(async () => {
      const stallAt = testHooks().stallAt
      if (stallAt !== undefined && this.written >= stallAt && !this.finished) {
        await new Promise<void>((resolve) => (this.unstall = resolve))
      }
      if (this.finished) return
      const bytes = join(parts)
      await this.sink.write(bytes)
      this.hasher.update(bytes)
      this.written += bytes.length
      this.view.done = this.written
      this.view.speedAt = performance.now()
      this.view.speed = this.meter.add(this.view.speedAt, this.written)
      if (this.written - this.lastAck >= ACK_EVERY || this.written === this.view.size) {
        this.lastAck = this.written
        if (channel.readyState === 'open') channel.send(JSON.stringify({ ack: this.written }))
      }
      const breakAt = testHooks().breakAt
      if (breakAt !== undefined && !this.brokeOnce && this.written >= breakAt) {
        this.brokeOnce = true
        channel.close()
      }
    })
    this.writing.catch(() => {
      this.send({ cancel: true })
      void this.finish('failed', 'The file could not be written.')
    })
  }

  private async control(text: string): Promise<void> {
    const msg = parseControl(text)
    if (!msg) return
    if ('cancel' in msg) return this.finish('cancelled')
    if (!('done' in msg)) return
    await this.writing
    if (this.finished) return
    if (this.written !== this.view.size || msg.done !== this.view.size) return
    this.view.state = 'verifying'
    const got = bytesToHex(this.hasher.digest())
    this.view.sha256 = got
    const ok = got === msg.sha256
    this.send({ verified: ok })
    if (ok) await this.finish('done')
    else await this.finish('failed', 'The file arrived damaged (its SHA-256 differs); it was discarded.')
  }

  private send(msg: object): void {
    if (this.channel?.readyState === 'open') this.channel.send(JSON.stringify(msg))
  }

  private async finish(state: 'done' | 'failed' | 'cancelled', error: string | null = null): Promise<void> {
    if (this.finished) return
    this.finished = true
    const channel = this.channel
    this.channel = null
    if (state === 'done') {
      const { downloadUrl } = await this.sink.close()
      this.view.downloadUrl = downloadUrl
    } else {
      this.unstall?.()
      await this.writing.catch(() => undefined)
      await this.sink.abort()
    }
    this.view.state = state
    this.view.error = error
    // Let the last message leave before the channel goes.
    setTimeout(() => channel?.close(), 1000)
    this.onFinish()
  }
}
