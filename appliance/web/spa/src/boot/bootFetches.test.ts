// Boot asks for the first screen's data at once: who we are always, people and rooms on the
// app's own pages, and the room's newest page only when the address opens one at its end.
import { afterEach, describe, expect, it, vi } from 'vitest'
import { dropPrefetched, takePrefetched } from '@/api/http'
import { roomAtStart, startBootFetches } from './bootFetches'

const at = (pathname: string, search = '') => ({ pathname, search })

describe('boot fetches', () => {
  afterEach(() => {
    dropPrefetched()
    vi.unstubAllGlobals()
  })

  it('knows the room an address opens at its newest page', () => {
    expect(roomAtStart(at('/rooms/12'))).toBe(12)
    expect(roomAtStart(at('/rooms/12/'))).toBe(12)
    expect(roomAtStart(at('/rooms/12', '?message=40'))).toBeNull()
    expect(roomAtStart(at('/rooms/12/board'))).toBeNull()
    expect(roomAtStart(at('/'))).toBeNull()
  })

  it('asks for them together, each answer taken once, and only me on the sign-in pages', async () => {
    const asked: string[] = []
    vi.stubGlobal('fetch', (url: string) => {
      asked.push(url)
      return Promise.resolve(new Response(JSON.stringify({ url }), { status: 200 }))
    })
    startBootFetches(at('/rooms/7'))
    expect(asked).toEqual(['/api/me', '/api/users', '/api/rooms', '/api/rooms/7/messages?limit=50'])
    expect(await takePrefetched('/api/rooms')).toEqual({ url: '/api/rooms' })
    expect(takePrefetched('/api/rooms')).toBeNull()
    dropPrefetched()
    asked.length = 0
    startBootFetches(at('/login'))
    expect(asked).toEqual(['/api/me'])
  })

  it('a refused head start fails quietly: no sign-out for it', async () => {
    const { onUnauthorized } = await import('@/api/http')
    const told = vi.fn()
    const stop = onUnauthorized(told)
    vi.stubGlobal('fetch', () => Promise.resolve(new Response('{}', { status: 401 })))
    startBootFetches(at('/'))
    await expect(takePrefetched('/api/users', undefined, { quiet: true })).rejects.toMatchObject({ status: 401 })
    expect(told).not.toHaveBeenCalled()
    await expect(takePrefetched('/api/rooms')).rejects.toMatchObject({ status: 401 })
    expect(told).toHaveBeenCalledOnce()
    stop()
  })
})
