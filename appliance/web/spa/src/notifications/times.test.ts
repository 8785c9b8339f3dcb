import { describe, expect, it } from 'vitest'
import { HOUR_MS, tomorrowMorning } from './times'

describe('tomorrowMorning', () => {
  it('is the next 8:00 here, at least an hour away', () => {
    const evening = new Date(2026, 0, 15, 21, 30).getTime()
    expect(tomorrowMorning(evening)).toBe(new Date(2026, 0, 16, 8, 0).getTime())
    const earlyMorning = new Date(2026, 0, 15, 5, 0).getTime()
    expect(tomorrowMorning(earlyMorning)).toBe(new Date(2026, 0, 15, 8, 0).getTime())
    const justBefore = new Date(2026, 0, 15, 7, 30).getTime()
    expect(tomorrowMorning(justBefore) - justBefore).toBeGreaterThan(HOUR_MS)
  })
})
