// Pure decisions of a call: what to send at a given size, who is polite, how good a link is.
import type { Quality } from './types'

/** Video participants sending at once; past this calls go audio-only (a full mesh on a LAN). */
export const MAX_VIDEO_PARTICIPANTS = 6

export interface VideoProfile {
  /** false: send no camera at all (too many people for a mesh of video). */
  video: boolean
  width: number
  height: number
  frameRate: number
  maxBitrate: number
}

/**
 * What each camera sends, by the number of people in the call. Every sender encodes one
 * stream per peer, so the budget per stream shrinks as the mesh grows.
 */
export function videoProfile(participants: number): VideoProfile {
  if (participants <= 2) return { video: true, width: 1280, height: 720, frameRate: 30, maxBitrate: 2_500_000 }
  if (participants <= 3) return { video: true, width: 960, height: 540, frameRate: 24, maxBitrate: 1_200_000 }
  if (participants <= 4) return { video: true, width: 640, height: 360, frameRate: 20, maxBitrate: 700_000 }
  if (participants <= MAX_VIDEO_PARTICIPANTS) {
    return { video: true, width: 480, height: 270, frameRate: 15, maxBitrate: 400_000 }
  }
  return { video: false, width: 0, height: 0, frameRate: 0, maxBitrate: 0 }
}

/** How much to scale a captured track down to reach the profile's height. */
export function scaleFor(trackHeight: number | undefined, profile: VideoProfile): number {
  if (!trackHeight || !profile.height || trackHeight <= profile.height) return 1
  return trackHeight / profile.height
}

/**
 * Perfect negotiation needs one polite side per pair. By user, not socket id: a seat keeps
 * its user across a reconnect (its socket id changes), so roles never flip mid-call.
 */
export function isPolite(me: number, peer: number): boolean {
  return me > peer
}

export interface LinkSample {
  rttMs: number | null
  lost: number
  received: number
}

/** A link's quality from round-trip time and loss since the last sample. */
export function linkQuality(sample: LinkSample): Quality {
  const total = sample.lost + sample.received
  const loss = total > 0 ? sample.lost / total : 0
  if (sample.rttMs === null && total === 0) return 'unknown'
  const rtt = sample.rttMs ?? 0
  if (rtt < 150 && loss < 0.02) return 'good'
  if (rtt < 400 && loss < 0.08) return 'fair'
  return 'poor'
}

/** Call duration as m:ss or h:mm:ss. */
export function duration(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000))
  const h = Math.floor(total / 3600)
  const m = Math.floor((total % 3600) / 60)
  const s = String(total % 60).padStart(2, '0')
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`
}

/** An RMS level (0..1) of time-domain samples centred on 128. */
export function rmsLevel(samples: Uint8Array): number {
  if (samples.length === 0) return 0
  let sum = 0
  for (const v of samples) {
    const x = (v - 128) / 128
    sum += x * x
  }
  return Math.sqrt(sum / samples.length)
}

export const SPEAKING_LEVEL = 0.02
