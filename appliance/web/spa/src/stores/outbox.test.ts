import { createPinia, setActivePinia } from 'pinia'
import { beforeEach, describe, expect, it } from 'vitest'
import { SocketError } from '@/api/socket'
import type { Message } from '@/api/types'
import { ChatCache, type OutboxEntry } from '@/persistence/cache'
import { message } from '@/testing/factories'
import { useOutboxStore } from './outbox'

let dbCounter = 0

/** A server that stores each client_id once, like the real one. */
class FakeServer {
  stored = new Map<string, Message>()
  online = true
  refuse: string | null = null
  calls: string[] = []
  private nextId = 1

  send = async (entry: OutboxEntry): Promise<Message> => {
    this.calls.push(entry.client_id)
    if (!this.online) throw new SocketError('disconnected', 'offline')
    if (this.refuse) throw new SocketError(this.refuse, 'refused')
    const earlier = this.stored.get(entry.client_id)
    if (earlier) return earlier
    const m = message(this.nextId++, { room: entry.room, body: entry.body, client_id: entry.client_id, author: 1 })
    this.stored.set(entry.client_id, m)
    return m
  }
}

async function setup(server: FakeServer, name?: string) {
  setActivePinia(createPinia())
  const cache = await ChatCache.open(name ?? `outbox-test-${dbCounter++}`)
  const outbox = useOutboxStore()
  const sent: Message[] = []
  outbox.configure({
    storage: cache,
    send: server.send,
    canSend: () => server.online,
    onSent: (m) => sent.push(m),
    sleep: async () => undefined,
  })
  return { outbox, cache, sent }
}

describe('outbox', () => {
  let server: FakeServer
  beforeEach(() => {
    server = new FakeServer()
  })

  it('sends at once when online and forgets the entry', async () => {
    const { outbox, cache, sent } = await setup(server)
    await outbox.add(10, 'hello')
    await outbox.drain()
    expect(sent.map((m) => m.body)).toEqual(['hello'])
    expect(outbox.entries).toEqual([])
    expect(await cache.outboxEntries()).toEqual([])
  })

  it('keeps messages written offline in IndexedDB and sends them in order later', async () => {
    server.online = false
    const { outbox, cache, sent } = await setup(server)
    await outbox.add(10, 'one')
    await outbox.add(10, 'two')
    await outbox.add(11, 'three')
    expect(outbox.entries.map((e) => e.state)).toEqual(['pending', 'pending', 'pending'])
    expect((await cache.outboxEntries()).map((e) => e.body)).toEqual(['one', 'two', 'three'])
    server.online = true
    await outbox.drain()
    expect(sent.map((m) => m.body)).toEqual(['one', 'two', 'three'])
    expect(outbox.entries).toEqual([])
  })

  it('survives a reload: a new page restores the entries and sends them', async () => {
    server.online = false
    const name = `outbox-reload-${dbCounter++}`
    const first = await setup(server, name)
    await first.outbox.add(10, 'written offline')
    first.cache.close()
    const second = await setup(server, name)
    await second.outbox.restore()
    expect(second.outbox.entries.map((e) => e.body)).toEqual(['written offline'])
    server.online = true
    await second.outbox.drain()
    expect(second.sent.map((m) => m.body)).toEqual(['written offline'])
  })

  it('stores each message once even when a reply was lost and it is sent again', async () => {
    const { outbox, sent } = await setup(server)
    // The server stored it, but the connection dropped before the reply came back.
    const realSend = server.send
    let dropReply = true
    let connected = false
    outbox.configure({
      storage: null,
      send: async (entry) => {
        const m = await realSend(entry)
        if (dropReply) {
          dropReply = false
          throw new SocketError('disconnected', 'lost')
        }
        return m
      },
      canSend: () => connected,
      onSent: (m) => sent.push(m),
    })
    await outbox.add(10, 'exactly once')
    connected = true
    await outbox.drain()
    expect(outbox.entries[0]?.state).toBe('pending')
    await outbox.drain()
    expect(server.stored.size).toBe(1)
    expect(server.calls.length).toBe(2)
    expect(new Set(server.calls).size).toBe(1)
    expect(sent.map((m) => m.body)).toEqual(['exactly once'])
  })

  it('marks refused messages failed, keeps going, and retries on demand', async () => {
    const { outbox, sent } = await setup(server)
    server.refuse = 'too_large'
    await outbox.add(10, 'too big')
    await outbox.drain()
    expect(outbox.entries[0]?.state).toBe('failed')
    expect(outbox.entries[0]?.error).toBe('refused')
    server.refuse = null
    await outbox.add(10, 'next')
    await outbox.drain()
    expect(sent.map((m) => m.body)).toEqual(['next'])
    const failed = outbox.entries[0]!
    await outbox.retry(failed.client_id)
    expect(sent.map((m) => m.body)).toEqual(['next', 'too big'])
    expect(outbox.entries).toEqual([])
  })

  it('forgets an entry when its message.new arrives first (another tab sent it)', async () => {
    server.online = false
    const { outbox, cache } = await setup(server)
    const entry = await outbox.add(10, 'from here')
    await outbox.acknowledge(entry.client_id)
    expect(outbox.entries).toEqual([])
    expect(await cache.outboxEntries()).toEqual([])
  })

  it('waits and retries after rate_limited', async () => {
    const { outbox, sent } = await setup(server)
    let refusals = 2
    outbox.configure({
      storage: null,
      send: async (entry) => {
        if (refusals-- > 0) throw new SocketError('rate_limited', 'slow down')
        return server.send(entry)
      },
      canSend: () => true,
      onSent: (m) => sent.push(m),
      sleep: async () => undefined,
    })
    await outbox.add(10, 'eventually')
    await outbox.drain()
    expect(sent.map((m) => m.body)).toEqual(['eventually'])
  })
})
