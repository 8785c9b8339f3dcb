// One AudioContext for the ring tone and the speaking meters, unlocked by the first gesture
// when the browser's autoplay policy starts it suspended.
import { rmsLevel, SPEAKING_LEVEL } from './profile'

let context: AudioContext | null = null

export function audioContext(): AudioContext | null {
  if (context) return context
  if (typeof AudioContext === 'undefined') return null
  context = new AudioContext()
  if (context.state === 'suspended') {
    const unlock = (): void => {
      void context?.resume()
      document.removeEventListener('pointerdown', unlock)
      document.removeEventListener('keydown', unlock)
    }
    document.addEventListener('pointerdown', unlock)
    document.addEventListener('keydown', unlock)
    void context.resume().catch(() => undefined)
  }
  return context
}

/** A ring made of two sine tones (no sound file to fetch): 1 s on, 2 s off, until stopped. */
export class Ringer {
  private timer: ReturnType<typeof setInterval> | null = null
  private gain: GainNode | null = null

  get ringing(): boolean {
    return this.timer !== null
  }

  start(kind: 'incoming' | 'outgoing'): void {
    if (this.timer !== null) return
    const ctx = audioContext()
    if (!ctx) return
    const gain = ctx.createGain()
    gain.gain.value = 0
    gain.connect(ctx.destination)
    const freqs = kind === 'incoming' ? [480, 620] : [440, 480]
    for (const f of freqs) {
      const osc = ctx.createOscillator()
      osc.frequency.value = f
      osc.connect(gain)
      osc.start()
    }
    this.gain = gain
    const level = kind === 'incoming' ? 0.12 : 0.05
    const burst = (): void => {
      const now = ctx.currentTime
      gain.gain.cancelScheduledValues(now)
      gain.gain.setValueAtTime(0, now)
      gain.gain.linearRampToValueAtTime(level, now + 0.05)
      gain.gain.setValueAtTime(level, now + 0.95)
      gain.gain.linearRampToValueAtTime(0, now + 1)
    }
    burst()
    this.timer = setInterval(burst, 3000)
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
    this.gain?.disconnect()
    this.gain = null
  }
}

// Each look covers the last ~85 ms (4096 samples at 48 kHz), taken about as often, so short
// sounds are not missed; the ring stays lit a while after the last loud look (no flicker).
const WINDOW = 4096
const LOOK_EVERY_MS = 80
const HANG_MS = 700

/** Speaking indicators: the RMS level of each watched stream's audio. */
export class SpeakingMeter {
  private readonly sources = new Map<string, { node: MediaStreamAudioSourceNode; analyser: AnalyserNode; loudAt: number }>()
  private timer: ReturnType<typeof setInterval> | null = null

  constructor(private readonly onChange: (key: string, speaking: boolean) => void) {}

  watch(key: string, stream: MediaStream): void {
    this.unwatch(key)
    const ctx = audioContext()
    if (!ctx || stream.getAudioTracks().length === 0) return
    try {
      const node = ctx.createMediaStreamSource(stream)
      const analyser = ctx.createAnalyser()
      analyser.fftSize = WINDOW
      node.connect(analyser)
      this.sources.set(key, { node, analyser, loudAt: -Infinity })
    } catch {
      return // no meter for this stream; the call itself is unaffected
    }
    this.timer ??= setInterval(() => this.sample(), LOOK_EVERY_MS)
  }

  unwatch(key: string): void {
    const entry = this.sources.get(key)
    if (!entry) return
    entry.node.disconnect()
    this.sources.delete(key)
    this.onChange(key, false)
  }

  stop(): void {
    for (const key of [...this.sources.keys()]) this.unwatch(key)
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
  }

  private sample(): void {
    const buffer = new Uint8Array(WINDOW)
    const now = performance.now()
    for (const [key, source] of this.sources) {
      source.analyser.getByteTimeDomainData(buffer)
      if (rmsLevel(buffer) > SPEAKING_LEVEL) source.loudAt = now
      this.onChange(key, now - source.loudAt < HANG_MS)
    }
  }
}
