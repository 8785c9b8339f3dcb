import { afterEach, describe, expect, it, vi } from 'vitest'
import { FeatureChannel } from '@/sync/featureChannel'
import { reportClockOnReady } from './useClockReport'

function answer(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })
}

const CLOSE = { synchronized: false, from_browsers: true, browser_ahead_ms: 0, set: false, reason: 'close' }

function sent(fetch: ReturnType<typeof vi.fn>): [string, unknown][] {
  return fetch.mock.calls.map((call) => {
    const [path, init] = call as [string, RequestInit]
    expect(init.method).toBe('POST')
    return [path, JSON.parse(init.body as string)]
  })
}

afterEach(() => {
  vi.unstubAllGlobals()
  vi.useRealTimers()
})

describe('reportClockOnReady', () => {
  it("sends an admin's time after every connect and reconnect", () => {
    vi.useFakeTimers({ now: Date.UTC(2026, 10, 29, 6, 0, 0), toFake: ['Date'] })
    const fetch = vi.fn(async () => answer(200, CLOSE))
    vi.stubGlobal('fetch', fetch)
    const channel = new FeatureChannel()
    const stop = reportClockOnReady(channel, () => true)
    channel.ready(1)
    vi.setSystemTime(Date.UTC(2026, 10, 29, 7, 0, 0))
    channel.lost()
    channel.ready(2)
    expect(sent(fetch)).toEqual([
      ['/api/admin/clock', { now_ms: Date.UTC(2026, 10, 29, 6, 0, 0) }],
      ['/api/admin/clock', { now_ms: Date.UTC(2026, 10, 29, 7, 0, 0) }],
    ])
    stop()
    channel.lost()
    channel.ready(3)
    expect(fetch).toHaveBeenCalledTimes(2)
  })

  it('sends nothing for a member who is not an admin', () => {
    const fetch = vi.fn(async () => answer(200, CLOSE))
    vi.stubGlobal('fetch', fetch)
    const channel = new FeatureChannel()
    reportClockOnReady(channel, () => false)
    channel.ready(1)
    expect(fetch).not.toHaveBeenCalled()
  })

  it('a refused report is swallowed, not an unhandled rejection', async () => {
    const refused = { error: { code: 'forbidden', message: 'Admins only.' } }
    const fetch = vi.fn(async () => answer(403, refused))
    vi.stubGlobal('fetch', fetch)
    const channel = new FeatureChannel()
    reportClockOnReady(channel, () => true)
    channel.ready(1)
    await vi.waitFor(() => expect(fetch).toHaveBeenCalledOnce())
  })
})
