import { describe, expect, it, vi } from 'vitest'
import type { User } from '@/api/types'
import { browserTimezone, localTimeIn, reportTimezone, zonePlace } from './useTimezoneReport'

const me = (timezone: string | null): User => ({
  id: 1,
  username: 'alice',
  display_name: 'Alice',
  admin: false,
  avatar_url: null,
  status_text: '',
  online: true,
  timezone,
})

describe('time zones', () => {
  it('reports the browser zone only when the profile holds another', async () => {
    const zone = browserTimezone()
    expect(zone).toBeTruthy()
    const update = vi.fn(() => Promise.resolve())
    await reportTimezone(me(zone ?? null), update)
    expect(update).not.toHaveBeenCalled()
    await reportTimezone(me(null), update)
    expect(update).toHaveBeenCalledWith({ timezone: zone })
  })

  it('shrugs off a refusal or no network', async () => {
    await expect(reportTimezone(me(null), () => Promise.reject(new Error('offline')))).resolves.toBeUndefined()
    await expect(reportTimezone(null, () => Promise.reject(new Error('never')))).resolves.toBeUndefined()
  })

  it('formats the time in a zone and names its place', () => {
    const noonUtc = Date.UTC(2026, 0, 15, 12, 0)
    expect(localTimeIn('Asia/Tokyo', noonUtc)).toMatch(/^(21|0?9):00/) // 24 h or 12 h, as the locale writes it
    expect(localTimeIn('Not/A_Zone', noonUtc)).toBeUndefined()
    expect(zonePlace('America/Argentina/Buenos_Aires')).toBe('Buenos Aires')
    expect(zonePlace('UTC')).toBe('UTC')
  })
})
