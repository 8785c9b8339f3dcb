import { describe, expect, it } from 'vitest'
import { baseMime, levelOf, pickMime } from './useRecorder'

describe('recorder helpers', () => {
  it('records WebM with Opus and VP8 where the browser can', () => {
    const chromium = (m: string) => m.startsWith('audio/webm') || m.startsWith('video/webm')
    expect(pickMime('audio', chromium)).toBe('audio/webm;codecs=opus')
    expect(pickMime('video', chromium)).toBe('video/webm;codecs=vp8,opus')
    const safari = (m: string) => m === 'audio/mp4' || m === 'video/mp4'
    expect(pickMime('audio', safari)).toBe('audio/mp4')
    expect(pickMime('video', () => false)).toBe('')
  })

  it('names the file type without codec parameters', () => {
    expect(baseMime('video/webm;codecs=vp8,opus', 'video')).toBe('video/webm')
    expect(baseMime('', 'audio')).toBe('audio/webm')
  })

  it('measures silence as zero and a loud tone as a full meter', () => {
    expect(levelOf(new Float32Array(256))).toBe(0)
    const tone = Float32Array.from({ length: 256 }, (_, i) => Math.sin(i / 4))
    expect(levelOf(tone)).toBe(1)
    const quiet = tone.map((s) => s * 0.05)
    expect(levelOf(quiet)).toBeGreaterThan(0)
    expect(levelOf(quiet)).toBeLessThan(0.5)
  })
})
