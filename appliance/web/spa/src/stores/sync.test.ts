import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { WebSocketLike } from '@/api/socket'
import { ChatCache } from '@/persistence/cache'
import { event, message, room, user } from '@/testing/factories'
import { useMessagesStore } from './messages'
import { useOutboxStore } from './outbox'
import { useRoomsStore } from './rooms'
import { useSessionStore } from './session'
import { useSyncStore } from './sync'

class FakeSocket implements WebSocketLike {
  readyState = 0
  onopen: ((ev: Event) => unknown) | null = null
  onclose: ((ev: CloseEvent) => unknown) | null = null
  onmessage: ((ev: MessageEvent) => unknown) | null = null
  onerror: ((ev: Event) => unknown) | null = null
  sent: Record<string, unknown>[] = []
  /** Answers hello and message.send like the server. */
  constructor(
    private readonly server: { head: number; resync: boolean; replay: unknown[] },
  ) {}
  send(data: string) {
    const frame = JSON.parse(data) as Record<string, unknown>
    this.sent.push(frame)
    queueMicrotask(() => {
      if (frame.type === 'hello') {
        for (const e of this.server.replay) this.push(e)
        const data = this.server.resync ? { head: this.server.head, resync: true } : { head: this.server.head }
        this.push({ type: 'reply', req: frame.req, ok: true, data })
      }
      if (frame.type === 'message.send') {
        const m = message(500, { room: frame.room as number, body: frame.body as string, author: 1, client_id: frame.client_id as string })
        this.push({ type: 'reply', req: frame.req, ok: true, data: { message: m } })
      }
    })
  }
  close(code = 1000) {
    this.readyState = 3
    this.onclose?.({ code } as CloseEvent)
  }
  open() {
    this.readyState = 1
    this.onopen?.({} as Event)
  }
  push(frame: unknown) {
    this.onmessage?.({ data: JSON.stringify(frame) } as MessageEvent)
  }
}

const until = async (check: () => boolean) => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 5))
  expect(check()).toBe(true)
}

function jsonResponse(body: unknown): Response {
  return new Response(JSON.stringify(body), { status: 200, headers: { 'Content-Type': 'application/json' } })
}

let counter = 0

describe('sync store', () => {
  const me = user(1)
  let fetchMock: ReturnType<typeof vi.fn>

  beforeEach(() => {
    setActivePinia(createPinia())
    fetchMock = vi.fn(async (url: string) => {
      if (url.startsWith('/api/me')) return jsonResponse({ user: me })
      if (url.startsWith('/api/users')) return jsonResponse({ users: [me, user(2)] })
      if (url.startsWith('/api/rooms')) return jsonResponse({ rooms: [room(10, { unread: 2, last_message_id: 7 })] })
      throw new Error(`unexpected ${url}`)
    })
    vi.stubGlobal('fetch', fetchMock)
  })
  afterEach(async () => {
    await useSyncStore().stop()
    vi.unstubAllGlobals()
  })

  async function start(server: { head: number; resync: boolean; replay: unknown[] }, cacheName: string) {
    const sockets: FakeSocket[] = []
    const sync = useSyncStore()
    await sync.start(me, {
      cacheName,
      location: { protocol: 'http:', host: 'test' } as Location,
      socket: {
        createSocket: () => {
          const s = new FakeSocket(server)
          sockets.push(s)
          queueMicrotask(() => s.open())
          return s
        },
        heartbeatMs: 1e9,
      },
    })
    return { sync, sockets }
  }

  it('loads over REST on first start, then follows events', async () => {
    const { sync, sockets } = await start({ head: 40, resync: false, replay: [] }, `sync-${counter++}`)
    const session = useSessionStore()
    await until(() => session.caughtUp)
    expect(sockets[0]!.sent[0]).toMatchObject({ type: 'hello', since: null })
    expect(sync.seq).toBe(40)
    const rooms = useRoomsStore()
    expect(rooms.byId[10]!.unread).toBe(2)
    sockets[0]!.push(event(41, 'message.new', 10, { message: message(8) }))
    expect(rooms.byId[10]!.unread).toBe(3)
    expect(sync.seq).toBe(41)
  })

  it('opens from the cache and resumes with hello since the cached seq', async () => {
    const name = `sync-${counter++}`
    const cache = await ChatCache.open(name)
    await cache.save(
      { me, seq: 30, users: [me, user(2)], rooms: [room(10, { last_message_id: 5, last_read_message_id: 5 })], savedAt: 0 },
      [{ room: 10, messages: [message(4), message(5)], hasOlder: true }],
    )
    cache.close()
    const replay = [event(31, 'message.new', 10, { message: message(6) })]
    const { sync, sockets } = await start({ head: 31, resync: false, replay }, name)
    const messages = useMessagesStore()
    // Before the socket answers, the cached history is already there.
    expect(messages.timelines[10]!.messages.map((m) => m.id)).toContain(5)
    await until(() => useSessionStore().caughtUp)
    expect(sockets[0]!.sent[0]).toMatchObject({ type: 'hello', since: 30 })
    expect(messages.timelines[10]!.messages.map((m) => m.id)).toEqual([4, 5, 6])
    expect(useRoomsStore().byId[10]!.unread).toBe(1)
    expect(sync.seq).toBe(31)
    // Nothing reloaded over REST (her notification settings are asked for after every hello).
    const reloads = fetchMock.mock.calls.filter(([url]) => url !== '/api/me/notifications')
    expect(reloads).toEqual([])
  })

  it('reloads over REST when the server asks for a resync', async () => {
    const name = `sync-${counter++}`
    const cache = await ChatCache.open(name)
    await cache.save({ me, seq: 3, users: [me], rooms: [room(10)], savedAt: 0 }, [
      { room: 10, messages: [message(1)], hasOlder: false },
    ])
    cache.close()
    const { sync } = await start({ head: 90_000, resync: true, replay: [] }, name)
    await until(() => useSessionStore().caughtUp)
    expect(sync.seq).toBe(90_000)
    expect(useRoomsStore().byId[10]!.last_message_id).toBe(7)
    // The cached history may have a gap: it is dropped, the view reloads it.
    expect(useMessagesStore().timelines[10]).toBeUndefined()
  })

  it('persists state so the next visit opens from it', async () => {
    const name = `sync-${counter++}`
    const { sync, sockets } = await start({ head: 40, resync: false, replay: [] }, name)
    await until(() => useSessionStore().caughtUp)
    useMessagesStore().timelines[10] = { messages: [message(7)], hasOlder: true, hasNewer: false }
    sockets[0]!.push(event(41, 'message.new', 10, { message: message(8) }))
    sync.persistNow()
    await new Promise((r) => setTimeout(r, 50))
    const cache = await ChatCache.open(name)
    const saved = await cache.load()
    cache.close()
    expect(saved?.snapshot.seq).toBe(41)
    expect(saved?.histories[0]?.messages.map((m) => m.id)).toEqual([7, 8])
  })

  it('sends the outbox once connected and puts the message in the timeline', async () => {
    const { sockets } = await start({ head: 40, resync: false, replay: [] }, `sync-${counter++}`)
    await until(() => useSessionStore().caughtUp)
    useMessagesStore().timelines[10] = { messages: [], hasOlder: false, hasNewer: false }
    const outbox = useOutboxStore()
    await outbox.add(10, 'hi there')
    await until(() => outbox.entries.length === 0)
    const send = sockets[0]!.sent.find((f) => f.type === 'message.send')
    expect(send).toMatchObject({ room: 10, body: 'hi there' })
    expect(useMessagesStore().timelines[10]!.messages.map((m) => m.body)).toEqual(['hi there'])
  })
})
