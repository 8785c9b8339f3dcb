import { describe, expect, it } from 'vitest'
import { timeLabel } from './format'

describe('timeLabel', () => {
  const early = new Date(2026, 10, 29, 1, 48).getTime()

  it('has no leading zero in 12-hour locales', () => {
    expect(timeLabel(early, 'en-US')).toMatch(/^1:48\sAM$/u)
  })

  it('keeps the 24-hour clock of locales that use it', () => {
    expect(timeLabel(early, 'en-GB')).toMatch(/^0?1:48$/)
    expect(timeLabel(new Date(2026, 10, 29, 13, 5).getTime(), 'de-DE')).toBe('13:05')
  })
})
