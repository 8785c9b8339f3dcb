import { describe, expect, it } from 'vitest'
import { compareText, dayLabel, fullTime, timeLabel } from './format'

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

describe('shared formatters', () => {
  const times = [0, new Date(2026, 0, 2, 3, 4, 5).getTime(), new Date(1999, 11, 31, 23, 59, 59).getTime()]

  it('fullTime reads as toLocaleString does', () => {
    for (const ms of times) expect(fullTime(ms)).toBe(new Date(ms).toLocaleString())
  })

  it('dayLabel names the day as toLocaleDateString does, with the year only when not this one', () => {
    const now = new Date(2026, 5, 15, 12).getTime()
    const sameYear = new Date(2026, 0, 2).getTime()
    const before = new Date(2024, 0, 2).getTime()
    expect(dayLabel(sameYear, now)).toBe(
      new Date(sameYear).toLocaleDateString(undefined, { weekday: 'long', month: 'long', day: 'numeric' }),
    )
    expect(dayLabel(before, now)).toBe(
      new Date(before).toLocaleDateString(undefined, { weekday: 'long', month: 'long', day: 'numeric', year: 'numeric' }),
    )
    expect(dayLabel(now - 1000, now)).toBe('Today')
  })

  it('compareText sorts as localeCompare does', () => {
    const names = ['zoë', 'Émile', 'alice', 'Bob', 'bob', '#general', 'éclair', 'Zed', '10 people', '9 people', 'a b', 'ab']
    const byLocale = [...names].sort((a, b) => a.localeCompare(b))
    expect([...names].sort(compareText)).toEqual(byLocale)
  })
})
