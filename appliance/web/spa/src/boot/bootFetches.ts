// The first screen's data, asked for as the app's code starts: who we are, the people, the
// rooms and (on /rooms/:id) that room's newest page, all at once. Before, each waited for the
// one before it (me, then the socket's hello, then people and rooms, then the page): on a
// phone's network that chain, not the code, was most of the time to the first messages.
// The server preloads the same URLs with the page (web/boot_preload.py keeps this list, its
// page size and its public paths): a fetch here takes the browser's answer to the preload.
import { prefetch } from '@/api/http'

/** Messages in a room's newest page (the messages store asks for the same). */
export const NEWEST_PAGE = 50

/** Pages that need no one signed in: nothing but /api/me is worth asking there. */
const PUBLIC_PATHS = ['/login', '/register', '/reset']

/** The room the address opens at its newest page; null elsewhere (or at a linked message). */
export function roomAtStart(location: Pick<Location, 'pathname' | 'search'>): number | null {
  const match = /^\/rooms\/(\d+)\/?$/.exec(location.pathname)
  if (!match || new URLSearchParams(location.search).has('message')) return null
  return Number(match[1])
}

export function newestPagePath(room: number): string {
  return `/api/rooms/${room}/messages`
}

export function startBootFetches(location: Pick<Location, 'pathname' | 'search'>): void {
  prefetch('/api/me')
  if (PUBLIC_PATHS.includes(location.pathname)) return
  prefetch('/api/users')
  prefetch('/api/rooms')
  const room = roomAtStart(location)
  if (room !== null) prefetch(newestPagePath(room), { limit: NEWEST_PAGE })
}
