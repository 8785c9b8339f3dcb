// The browser's copy is never saved ahead of its counters: after an event whose counters come
// from the server (a thread seen: thread.read), a copy saved before that answer held the
// new seq with the old mention, and a reload started from it with nothing left to replay:
// the `@1` came back for good (test_unread, a thread mention, under load).
import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { WebSocketLike } from '@/api/socket'
import { ChatCache } from '@/persistence/cache'
import { event, message, room, user } from '@/testing/factories'
import { useRoomsStore } from './rooms'
import { useSessionStore } from './session'
import { useSyncStore } from './sync'

/** A socket that answers hello with a head and nothing to replay. */
class HelloSocket implements WebSocketLike {
  readyState = 0
  onopen: ((ev: Event) => unknown) | null = null
  onclose: ((ev: CloseEvent) => unknown) | null = null
  onmessage: ((ev: MessageEvent) => unknown) | null = null
  onerror: ((ev: Event) => unknown) | null = null
  constructor(private readonly head: number) {}
  send(data: string) {
    const frame = JSON.parse(data) as { type: string; req?: number }
    if (frame.type !== 'hello') return
    queueMicrotask(() => this.push({ type: 'reply', req: frame.req, ok: true, data: { head: this.head, conn: 1 } }))
  }
  close(code = 1000) {
    this.readyState = 3
    this.onclose?.({ code } as CloseEvent)
  }
  push(frame: unknown) {
    this.onmessage?.({ data: JSON.stringify(frame) } as MessageEvent)
  }
}

const json = (body: unknown) => new Response(JSON.stringify(body), { status: 200 })

async function saved(name: string) {
  const cache = await ChatCache.open(name)
  const found = await cache.load()
  cache.close()
  return { seq: found?.snapshot.seq, mentions: found?.snapshot.rooms.find((r) => r.id === 10)?.mentions }
}

describe('saving the browser copy', () => {
  const me = user(1)
  let counters: ((response: Response) => void)[]

  beforeEach(() => {
    setActivePinia(createPinia())
    counters = []
    vi.stubGlobal('fetch', (url: string) => {
      if (url === '/api/rooms/10') return new Promise<Response>((done) => counters.push(done))
      if (url.startsWith('/api/me')) return Promise.resolve(json({ user: me }))
      if (url.startsWith('/api/users')) return Promise.resolve(json({ users: [me, user(2)] }))
      if (url.startsWith('/api/rooms')) return Promise.resolve(json({ rooms: [room(10, { last_message_id: 5, last_read_message_id: 5 })] }))
      return Promise.reject(new Error(`unexpected ${url}`))
    })
  })
  afterEach(async () => {
    await useSyncStore().stop()
    vi.unstubAllGlobals()
  })

  it('waits for counters asked of the server before saving their seq', async () => {
    const name = 'settling-1'
    const socket = new HelloSocket(40)
    const sync = useSyncStore()
    await sync.start(me, {
      cacheName: name,
      location: { protocol: 'http:', host: 'test' } as Location,
      socket: {
        createSocket: () => {
          queueMicrotask(() => {
            socket.readyState = 1
            socket.onopen?.({} as Event)
          })
          return socket
        },
        heartbeatMs: 1e9,
      },
    })
    await vi.waitFor(() => expect(useSessionStore().caughtUp).toBe(true))
    const rooms = useRoomsStore()
    // A reply in a thread mentions me: counted here.
    const reply = message(6, { thread: 5, mentions: [1] })
    socket.push(event(41, 'message.new', 10, { message: reply }))
    expect(rooms.byId[10]!.mentions).toBe(1)
    sync.persistNow()
    await vi.waitFor(async () => expect(await saved(name)).toEqual({ seq: 41, mentions: 1 }))

    // I saw the thread (on this or another device): the counts come from the server.
    socket.push(event(42, 'thread.read', 10, { room: 10, thread: 5, message: 6 }))
    await vi.waitFor(() => expect(counters).toHaveLength(1))
    sync.persistNow() // the save timer fires (or the page goes) before the answer
    expect(await saved(name)).toEqual({ seq: 41, mentions: 1 }) // still consistent: 42 replays

    counters[0]!(json({ room: room(10, { last_message_id: 5, last_read_message_id: 5, mentions: 0, thread_mentions: 0 }) }))
    await vi.waitFor(() => expect(rooms.byId[10]!.mentions).toBe(0))
    sync.persistNow()
    await vi.waitFor(async () => expect(await saved(name)).toEqual({ seq: 42, mentions: 0 }))
  })
})
