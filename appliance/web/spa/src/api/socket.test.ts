import { describe, expect, it } from 'vitest'
import { backoffDelay, ChatSocket, SocketError, type Timers, type WebSocketLike } from './socket'

class FakeSocket implements WebSocketLike {
  readyState = 0
  onopen: ((ev: Event) => unknown) | null = null
  onclose: ((ev: CloseEvent) => unknown) | null = null
  onmessage: ((ev: MessageEvent) => unknown) | null = null
  onerror: ((ev: Event) => unknown) | null = null
  sent: Record<string, unknown>[] = []
  send(data: string) {
    this.sent.push(JSON.parse(data) as Record<string, unknown>)
  }
  close(code = 1000) {
    this.readyState = 3
    this.onclose?.({ code } as CloseEvent)
  }
  open() {
    this.readyState = 1
    this.onopen?.({} as Event)
  }
  receive(frame: unknown) {
    this.onmessage?.({ data: JSON.stringify(frame) } as MessageEvent)
  }
}

class ManualTimers implements Timers {
  now = 0
  private queue: { at: number; fn: () => void; id: number }[] = []
  private nextId = 1
  setTimeout(fn: () => void, ms: number) {
    const id = this.nextId++
    this.queue.push({ at: this.now + ms, fn, id })
    return id
  }
  clearTimeout(handle: unknown) {
    this.queue = this.queue.filter((t) => t.id !== handle)
  }
  advance(ms: number) {
    this.now += ms
    for (;;) {
      const due = this.queue.filter((t) => t.at <= this.now).sort((a, b) => a.at - b.at)[0]
      if (!due) break
      this.queue = this.queue.filter((t) => t !== due)
      due.fn()
    }
  }
  pendingDelays() {
    return this.queue.map((t) => t.at - this.now)
  }
}

const flush = () => new Promise((r) => setTimeout(r, 0))

function setup() {
  const sockets: FakeSocket[] = []
  const timers = new ManualTimers()
  const frames: unknown[] = []
  let opened = 0
  const client = new ChatSocket({
    url: 'ws://test/api/ws',
    createSocket: () => {
      const s = new FakeSocket()
      sockets.push(s)
      return s
    },
    onOpen: async () => {
      opened += 1
    },
    onFrame: (f) => frames.push(f),
    timers,
    random: () => 1,
    baseDelayMs: 100,
    maxDelayMs: 1_000,
    requestTimeoutMs: 500,
    heartbeatMs: 60_000,
  })
  return { client, sockets, timers, frames, opens: () => opened }
}

describe('backoffDelay', () => {
  it('grows exponentially up to the cap, with jitter below it', () => {
    expect(backoffDelay(0, () => 1, 500, 30_000)).toBe(500)
    expect(backoffDelay(3, () => 1, 500, 30_000)).toBe(4_000)
    expect(backoffDelay(20, () => 1, 500, 30_000)).toBe(30_000)
    expect(backoffDelay(3, () => 0.5, 500, 30_000)).toBe(2_000)
    expect(backoffDelay(3, () => 0, 500, 30_000)).toBe(125)
  })
})

describe('ChatSocket', () => {
  it('correlates replies with requests', async () => {
    const { client, sockets } = setup()
    client.start()
    sockets[0]!.open()
    await flush()
    const answer = client.request<{ head: number }>({ type: 'hello', since: null })
    const sent = sockets[0]!.sent[0]!
    expect(sent.type).toBe('hello')
    sockets[0]!.receive({ type: 'reply', req: 'other', ok: true, data: {} })
    sockets[0]!.receive({ type: 'reply', req: sent.req, ok: true, data: { head: 7 } })
    await expect(answer).resolves.toEqual({ head: 7 })
  })

  it('rejects with the server error, on timeout, and on disconnect', async () => {
    const { client, sockets, timers } = setup()
    client.start()
    sockets[0]!.open()
    await flush()
    const refused = client.request({ type: 'message.send' })
    const req = sockets[0]!.sent[0]!.req
    sockets[0]!.receive({ type: 'reply', req, ok: false, error: { code: 'too_large', message: 'big' } })
    await expect(refused).rejects.toMatchObject({ code: 'too_large' })

    const slow = client.request({ type: 'ping' })
    timers.advance(500)
    await expect(slow).rejects.toMatchObject({ code: 'timeout' })

    const cut = client.request({ type: 'ping' })
    sockets[0]!.close(1006)
    const error = await cut.catch((e: SocketError) => e)
    expect(error).toBeInstanceOf(SocketError)
    expect((error as SocketError).transient).toBe(true)
  })

  it('reconnects with growing delays and resets them after a good connection', async () => {
    const { client, sockets, timers, opens } = setup()
    client.start()
    sockets[0]!.close(1006)
    expect(timers.pendingDelays()).toEqual([100])
    timers.advance(100)
    sockets[1]!.close(1006)
    expect(timers.pendingDelays()).toEqual([200])
    timers.advance(200)
    sockets[2]!.close(1006)
    expect(timers.pendingDelays()).toEqual([400])
    timers.advance(400)
    sockets[3]!.open()
    await flush()
    expect(opens()).toBe(1)
    expect(client.status).toBe('open')
    sockets[3]!.close(1001)
    expect(timers.pendingDelays()).toEqual([100])
  })

  it('retries at once when asked, skipping the backoff wait, and starts the delays over', async () => {
    const { client, sockets, timers } = setup()
    client.start()
    sockets[0]!.close(1006)
    timers.advance(100)
    sockets[1]!.close(1006)
    expect(timers.pendingDelays()).toEqual([200])

    client.reconnectNow()
    expect(sockets).toHaveLength(3)
    expect(timers.pendingDelays()).toEqual([])
    client.reconnectNow() // a second press while that attempt is under way opens no second socket
    expect(sockets).toHaveLength(3)
    sockets[2]!.close(1006)
    expect(timers.pendingDelays()).toEqual([100])

    timers.advance(100)
    sockets[3]!.open()
    await flush()
    client.reconnectNow() // already connected: nothing to do
    expect(sockets).toHaveLength(4)
  })

  it('does not reconnect when the server ended the session', async () => {
    const ended: string[] = []
    const timers = new ManualTimers()
    const sockets: FakeSocket[] = []
    const client = new ChatSocket({
      url: 'ws://x',
      createSocket: () => {
        const s = new FakeSocket()
        sockets.push(s)
        return s
      },
      onOpen: async () => undefined,
      onFrame: () => undefined,
      onSessionEnded: () => ended.push('ended'),
      timers,
    })
    client.start()
    sockets[0]!.open()
    await flush()
    sockets[0]!.close(4001)
    expect(ended).toEqual(['ended'])
    expect(timers.pendingDelays()).toEqual([])
  })

  it('passes events and ephemeral frames to its owner', async () => {
    const { client, sockets, frames } = setup()
    client.start()
    sockets[0]!.open()
    sockets[0]!.receive({ type: 'typing', room: 1, user: 2 })
    sockets[0]!.receive('not json{')
    expect(frames).toEqual([{ type: 'typing', room: 1, user: 2 }])
  })
})
