import { describe, expect, it } from 'vitest'
import { duration, isPolite, linkQuality, rmsLevel, scaleFor, videoProfile } from './profile'

describe('videoProfile', () => {
  it('lowers resolution and frame rate as the mesh grows, and stops video past six', () => {
    const sizes = [2, 3, 4, 6].map((n) => videoProfile(n))
    for (let i = 1; i < sizes.length; i++) {
      expect(sizes[i]!.height).toBeLessThan(sizes[i - 1]!.height)
      expect(sizes[i]!.frameRate).toBeLessThanOrEqual(sizes[i - 1]!.frameRate)
      expect(sizes[i]!.maxBitrate).toBeLessThan(sizes[i - 1]!.maxBitrate)
    }
    expect(videoProfile(6).video).toBe(true)
    expect(videoProfile(7).video).toBe(false)
  })

  it('scales a 720p camera down to the profile height, never up', () => {
    expect(scaleFor(720, videoProfile(4))).toBe(2)
    expect(scaleFor(240, videoProfile(2))).toBe(1)
    expect(scaleFor(undefined, videoProfile(2))).toBe(1)
  })
})

describe('negotiation roles', () => {
  it('makes exactly one side of each pair polite', () => {
    expect(isPolite(5, 3)).toBe(true)
    expect(isPolite(3, 5)).toBe(false)
  })
})

describe('linkQuality', () => {
  it('grades by round trip and loss', () => {
    expect(linkQuality({ rttMs: 5, lost: 0, received: 500 })).toBe('good')
    expect(linkQuality({ rttMs: 250, lost: 10, received: 500 })).toBe('fair')
    expect(linkQuality({ rttMs: 30, lost: 100, received: 500 })).toBe('poor')
    expect(linkQuality({ rttMs: null, lost: 0, received: 0 })).toBe('unknown')
  })
})

describe('duration and level', () => {
  it('formats a call duration', () => {
    expect(duration(65_000)).toBe('1:05')
    expect(duration(3_725_000)).toBe('1:02:05')
  })
  it('hears silence as zero and a full-scale wave as loud', () => {
    expect(rmsLevel(new Uint8Array(64).fill(128))).toBe(0)
    expect(rmsLevel(Uint8Array.from({ length: 64 }, (_, i) => (i % 2 ? 255 : 1)))).toBeGreaterThan(0.9)
  })
})
