// A room's counters from the server come with the event-log position they are exact at, so
// the reducer never counts an event twice (once in the answer, once as it arrives) and an
// answer older than the events already applied is not allowed to drop what they counted.
import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { room } from '@/testing/factories'
import { useRoomsStore } from './rooms'

const json = (body: unknown) => new Response(JSON.stringify(body), { status: 200 })

describe("a room's counters from the server", () => {
  let answers: { mentions: number; seq: number }[]
  let asked: number

  beforeEach(() => {
    setActivePinia(createPinia())
    asked = 0
    vi.stubGlobal('fetch', (url: string) => {
      if (url !== '/api/rooms/10') return Promise.reject(new Error(`unexpected ${url}`))
      const answer = answers[Math.min(asked, answers.length - 1)]!
      asked += 1
      return Promise.resolve(json({ room: room(10, { mentions: answer.mentions }), seq: answer.seq }))
    })
  })
  afterEach(() => vi.unstubAllGlobals())

  it('remembers the position a list was read at, room by room', () => {
    const rooms = useRoomsStore()
    rooms.replaceAll([room(10), room(11)], { seq: 70 })
    expect(rooms.countedThrough).toEqual({ 10: 70, 11: 70 })
    rooms.replaceAll([room(11)]) // a cached copy: its position is unknown
    expect(rooms.countedThrough).toEqual({})
  })

  it('asks again while the answer is older than the events applied here', async () => {
    const rooms = useRoomsStore()
    rooms.replaceAll([room(10)], { seq: 30 })
    answers = [
      { mentions: 1, seq: 40 }, // read before event 42, which this tab already counted
      { mentions: 2, seq: 42 },
    ]
    await rooms.refreshCounters(10, () => 42)
    expect(asked).toBe(2)
    expect(rooms.byId[10]!.mentions).toBe(2)
    expect(rooms.countedThrough[10]).toBe(42)
  })

  it('takes an answer newer than what was applied, and counts from there', async () => {
    const rooms = useRoomsStore()
    rooms.replaceAll([room(10)], { seq: 30 })
    answers = [{ mentions: 3, seq: 50 }]
    await rooms.refreshCounters(10, () => 42)
    expect(asked).toBe(1)
    expect(rooms.byId[10]!.mentions).toBe(3)
    expect(rooms.countedThrough[10]).toBe(50)
  })
})

// Read before the catch-up (the socket not open yet, or offline): the list the catch-up
// reloads was read before the server heard of it, and must not unread the room again.
describe('our read marker not yet sent', () => {
  beforeEach(() => setActivePinia(createPinia()))

  it('stays over a list from the server until the server has it', () => {
    const rooms = useRoomsStore()
    const unreadMention = room(10, { unread: 5, mentions: 1, last_message_id: 9, last_read_message_id: null })
    rooms.replaceAll([unreadMention], { seq: 30 })
    rooms.readHere(10, 9)
    rooms.replaceAll([unreadMention], { seq: 31 })
    expect(rooms.byId[10]).toMatchObject({ unread: 0, mentions: 0, last_read_message_id: 9 })
    rooms.readHeard(10, 9)
    rooms.replaceAll([unreadMention], { seq: 32 })
    expect(rooms.byId[10]).toMatchObject({ unread: 5, mentions: 1 })
  })

  it('read partway keeps the marker and leaves the counts to the server', () => {
    const rooms = useRoomsStore()
    rooms.readHere(10, 6)
    rooms.replaceAll([room(10, { unread: 5, mentions: 1, last_message_id: 9, last_read_message_id: 4 })])
    expect(rooms.byId[10]).toMatchObject({ unread: 5, mentions: 1, last_read_message_id: 6 })
  })

  it('keeps a thread mention, which reading the room does not clear', () => {
    const rooms = useRoomsStore()
    rooms.readHere(10, 9)
    rooms.replaceAll([room(10, { unread: 3, mentions: 2, thread_mentions: 1, last_message_id: 9 })])
    expect(rooms.byId[10]).toMatchObject({ unread: 0, mentions: 1 })
  })

  it('is dropped by "Mark as unread" and with the room', () => {
    const rooms = useRoomsStore()
    rooms.readHere(10, 9)
    rooms.readHere(11, 3)
    rooms.forgetUnsentRead(10)
    rooms.replaceAll([room(10)])
    expect(rooms.unsentReads).toEqual({})
  })
})
