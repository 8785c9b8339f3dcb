import { describe, expect, it } from 'vitest'
import { expiresLabel, formatBytes, formatDuration, percent } from './adminFormat'

describe('adminFormat', () => {
  it('formats sizes in powers of 1000', () => {
    expect(formatBytes(0)).toBe('0 B')
    expect(formatBytes(999)).toBe('999 B')
    expect(formatBytes(1500)).toBe('1.5 KB')
    expect(formatBytes(23_400_000)).toBe('23.4 MB')
    expect(formatBytes(123_456_789_012)).toBe('123 GB')
    expect(formatBytes(2_000_000_000_000)).toBe('2 TB')
    expect(formatBytes(-1)).toBe('—')
    expect(formatBytes(Number.NaN)).toBe('—')
  })

  it('formats durations with the two biggest units', () => {
    expect(formatDuration(0)).toBe('0 s')
    expect(formatDuration(59.9)).toBe('59 s')
    expect(formatDuration(60)).toBe('1 min')
    expect(formatDuration(3600 + 300)).toBe('1 h 5 min')
    expect(formatDuration(7200)).toBe('2 h')
    expect(formatDuration(86400)).toBe('1 day')
    expect(formatDuration(3 * 86400 + 4 * 3600 + 59)).toBe('3 days 4 h')
    expect(formatDuration(-5)).toBe('0 s')
  })

  it('computes bounded percentages', () => {
    expect(percent(1, 4)).toBe(25)
    expect(percent(5, 0)).toBe(0)
    expect(percent(9, 4)).toBe(100)
  })

  it('says when things expire', () => {
    const now = 1_000_000_000
    expect(expiresLabel(null, now)).toBe('never')
    expect(expiresLabel(now - 1, now)).toBe('expired')
    expect(expiresLabel(now + 3 * 86_400_000, now)).toBe('in 3 days')
  })
})
