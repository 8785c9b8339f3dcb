import { describe, expect, it } from 'vitest'
import { event, message, room, user } from '@/testing/factories'
import { applyEvent, countersNeedServer, emptyChatState, recountUnread, type ChatState } from './reducer'

function state(): ChatState {
  const s = emptyChatState()
  s.me = 1
  s.seq = 100
  s.users = { 1: user(1), 2: user(2) }
  s.rooms = { 10: room(10, { last_message_id: 9, last_read_message_id: 5, unread: 4 }) }
  s.timelines = {
    10: { messages: [4, 5, 6, 7, 8, 9].map((id) => message(id)), hasOlder: true, hasNewer: false },
  }
  return s
}

describe('unread that never lies', () => {
  it('counts a thread reply that mentions us, and keeps it after the room is read', () => {
    const s = state()
    applyEvent(s, event(101, 'message.new', 10, { message: message(20, { thread: 4, mentions: [1] }) }))
    expect(s.rooms[10]!.mentions).toBe(1)
    expect(s.rooms[10]!.thread_mentions).toBe(1)
    applyEvent(s, event(102, 'read', 10, { user: 1, message: 9 }))
    expect(s.rooms[10]!.unread).toBe(0)
    expect(s.rooms[10]!.mentions).toBe(1)
  })

  it('asks the server after a thread was read or our marker moved back', () => {
    const s = state()
    const threadRead = event(101, 'thread.read', null, { room: 10, thread: 4, message: 20 })
    expect(countersNeedServer(s, threadRead)).toBe(10)
    expect(countersNeedServer(s, event(102, 'read', 10, { user: 1, message: 6 }))).toBeNull()
    expect(countersNeedServer(s, event(103, 'read', 10, { user: 1, message: 4, moved_back: true }))).toBe(10)
    expect(countersNeedServer(s, event(104, 'read', 10, { user: 2, message: 4, moved_back: true }))).toBeNull()
  })

  it('moves our marker back on mark unread, and another reader keeps a marker moved back', () => {
    const s = state()
    applyEvent(s, event(101, 'read', 10, { user: 1, message: 7 }))
    expect(s.rooms[10]!.unread).toBe(2)
    applyEvent(s, event(102, 'read', 10, { user: 1, message: 5, moved_back: true }))
    expect(s.rooms[10]!.last_read_message_id).toBe(5)
    expect(s.rooms[10]!.unread).toBe(4)
    applyEvent(s, event(103, 'read', 10, { user: 1, message: 4 })) // stale: ignored
    expect(s.rooms[10]!.last_read_message_id).toBe(5)
    applyEvent(s, event(104, 'read', 10, { user: 2, message: 8 }))
    applyEvent(s, event(105, 'read', 10, { user: 2, message: 6, moved_back: true }))
    expect(s.reads[10]![2]).toBe(6)
  })

  it('lowers the count by what the marker moved over in a window opened at the first unread', () => {
    const s = state()
    const r = s.rooms[10]!
    r.unread = 500
    r.last_message_id = 900
    s.timelines[10]!.hasNewer = true // 4..9 of a room whose newest is 900
    r.last_read_message_id = 8
    recountUnread(s, r, 5)
    expect(r.unread).toBe(497)
  })
})
