import { describe, expect, it } from 'vitest'
import { event, message, room, user } from '@/testing/factories'
import { applyEvent, emptyChatState, type ChatState } from './reducer'

function stateWithRoom(): ChatState {
  const state = emptyChatState()
  state.me = 1
  state.seq = 100
  state.users = { 1: user(1), 2: user(2) }
  state.rooms = { 10: room(10, { last_message_id: 5, last_read_message_id: 5 }) }
  state.timelines = { 10: { messages: [message(4), message(5)], hasOlder: true, hasNewer: false } }
  return state
}

describe('applyEvent', () => {
  it('ignores events it already applied', () => {
    const state = stateWithRoom()
    expect(applyEvent(state, event(100, 'message.new', 10, { message: message(6) }))).toBe(false)
    expect(state.timelines[10]?.messages.map((m) => m.id)).toEqual([4, 5])
    expect(applyEvent(state, event(101, 'message.new', 10, { message: message(6) }))).toBe(true)
    expect(state.seq).toBe(101)
  })

  it('appends new messages and counts unread and mentions from others', () => {
    const state = stateWithRoom()
    applyEvent(state, event(101, 'message.new', 10, { message: message(6) }))
    applyEvent(state, event(102, 'message.new', 10, { message: message(7, { mentions: [1] }) }))
    applyEvent(state, event(103, 'message.new', 10, { message: message(8, { author: 1 }) }))
    applyEvent(state, event(104, 'message.new', 10, { message: message(9, { mention_room: true }) }))
    const r = state.rooms[10]!
    expect(state.timelines[10]?.messages.map((m) => m.id)).toEqual([4, 5, 6, 7, 8, 9])
    expect(r.last_message_id).toBe(9)
    expect(r.unread).toBe(3)
    expect(r.mentions).toBe(2)
  })

  it('does not count a message the snapshot already had', () => {
    const state = stateWithRoom()
    state.rooms[10]!.last_message_id = 6
    state.rooms[10]!.unread = 1
    applyEvent(state, event(101, 'message.new', 10, { message: message(6) }))
    expect(state.rooms[10]!.unread).toBe(1)
    expect(state.timelines[10]?.messages.map((m) => m.id)).toEqual([4, 5, 6])
  })

  it('leaves a timeline opened in context alone, but counts the message', () => {
    const state = stateWithRoom()
    state.timelines[10]!.hasNewer = true
    applyEvent(state, event(101, 'message.new', 10, { message: message(60) }))
    expect(state.timelines[10]?.messages.map((m) => m.id)).toEqual([4, 5])
    expect(state.rooms[10]!.unread).toBe(1)
  })

  it('counts thread replies on the root, once, and adds them to an open thread', () => {
    const state = stateWithRoom()
    state.threads = { 5: { root: message(5), replies: [] } }
    const reply = message(6, { thread: 5, created_at: 5_000 })
    applyEvent(state, event(101, 'message.new', 10, { message: reply }))
    expect(state.timelines[10]!.messages[1]!.reply_count).toBe(1)
    expect(state.timelines[10]!.messages[1]!.last_reply_at).toBe(5_000)
    expect(state.threads[5]!.root!.reply_count).toBe(1)
    expect(state.threads[5]!.replies.map((m) => m.id)).toEqual([6])
    // Not a timeline message: no unread, no last_message_id.
    expect(state.rooms[10]!.unread).toBe(0)
    expect(state.rooms[10]!.last_message_id).toBe(5)
    // The same reply again (seq replay after a reload) is not counted twice.
    state.seq = 100
    applyEvent(state, event(101, 'message.new', 10, { message: reply }))
    expect(state.threads[5]!.root!.reply_count).toBe(1)
  })

  it('counts a thread mention once when the server counters were taken after it', () => {
    // A reload: the rooms list was read at seq 103 and already counts the mention in the
    // reply of seq 102; the socket's hello had answered head 100, so that event comes again.
    const state = stateWithRoom()
    state.rooms[10]!.mentions = 1
    state.rooms[10]!.thread_mentions = 1
    state.countedThrough = { 10: 103 }
    const mention = message(6, { thread: 5, mentions: [1] })
    applyEvent(state, event(102, 'message.new', 10, { message: mention }))
    expect(state.rooms[10]!.mentions).toBe(1)
    expect(state.rooms[10]!.thread_mentions).toBe(1)
    // Past what the counters were taken at, a mention counts.
    applyEvent(state, event(104, 'message.new', 10, { message: message(7, { thread: 5, mentions: [1] }) }))
    expect(state.rooms[10]!.mentions).toBe(2)
    expect(state.rooms[10]!.thread_mentions).toBe(2)
  })

  it('does not count a reply a freshly fetched root already counts', () => {
    const state = stateWithRoom()
    state.timelines[10]!.messages[1] = message(5, { reply_count: 1, last_reply_at: 5_000 })
    applyEvent(state, event(101, 'message.new', 10, { message: message(6, { thread: 5, created_at: 5_000 }) }))
    expect(state.timelines[10]!.messages[1]!.reply_count).toBe(1)
  })

  it('replaces edited messages everywhere', () => {
    const state = stateWithRoom()
    state.threads = { 5: { root: message(5), replies: [] } }
    const edited = message(5, { body: 'fixed', edited_at: 9_000 })
    applyEvent(state, event(101, 'message.edit', 10, { message: edited }))
    expect(state.timelines[10]!.messages[1]!.body).toBe('fixed')
    expect(state.threads[5]!.root!.body).toBe('fixed')
  })

  it('turns deleted messages into tombstones and uncounts unread ones', () => {
    const state = stateWithRoom()
    applyEvent(state, event(101, 'message.new', 10, { message: message(6, { mentions: [1] }) }))
    expect(state.rooms[10]!.unread).toBe(1)
    const tombstone = message(6, { body: '', deleted: true, mentions: [], edited_at: 1 })
    applyEvent(state, event(102, 'message.delete', 10, { message: tombstone }))
    expect(state.timelines[10]!.messages[2]!.deleted).toBe(true)
    expect(state.rooms[10]!.unread).toBe(0)
    expect(state.rooms[10]!.mentions).toBe(0)
  })

  it('uncounts a deleted thread reply on its root', () => {
    const state = stateWithRoom()
    state.timelines[10]!.messages[1] = message(5, { reply_count: 2, last_reply_at: 7 })
    const tombstone = message(6, { thread: 5, deleted: true, body: '' })
    applyEvent(state, event(101, 'message.delete', 10, { message: tombstone }))
    expect(state.timelines[10]!.messages[1]!.reply_count).toBe(1)
  })

  it('replays a redacted log (new as tombstone, then delete) to the same counts', () => {
    // The server rewrites an earlier message.new to the deleted form (docs/api.md).
    for (const open of [true, false]) {
      const state = stateWithRoom()
      state.rooms[10]!.last_read_message_id = 4
      state.timelines[10]!.messages[1] = message(5, { reply_count: 0 })
      if (open) state.threads = { 5: { root: message(5), replies: [] } }
      const reply = message(6, { thread: 5, deleted: true, body: '', mentions: [] })
      const top = message(7, { deleted: true, body: '', mentions: [] })
      applyEvent(state, event(101, 'message.new', 10, { message: reply }))
      applyEvent(state, event(102, 'message.new', 10, { message: top }))
      applyEvent(state, event(103, 'message.delete', 10, { message: reply }))
      applyEvent(state, event(104, 'message.delete', 10, { message: top }))
      expect(state.timelines[10]!.messages[1]!.reply_count).toBe(0)
      expect(state.rooms[10]!.unread).toBe(0)
      expect(state.timelines[10]!.messages.at(-1)).toMatchObject({ id: 7, deleted: true })
      if (open) expect(state.threads[5]!.replies.map((m) => m.deleted)).toEqual([true])
    }
  })

  it('sets and clears reactions idempotently', () => {
    const state = stateWithRoom()
    applyEvent(state, event(101, 'reaction', 10, { message: 5, user: 2, emoji: '👍', on: true }))
    applyEvent(state, event(102, 'reaction', 10, { message: 5, user: 1, emoji: '👍', on: true }))
    applyEvent(state, event(103, 'reaction', 10, { message: 5, user: 1, emoji: '👍', on: true }))
    expect(state.timelines[10]!.messages[1]!.reactions).toEqual({ '👍': [2, 1] })
    applyEvent(state, event(104, 'reaction', 10, { message: 5, user: 2, emoji: '👍', on: false }))
    applyEvent(state, event(105, 'reaction', 10, { message: 5, user: 1, emoji: '👍', on: false }))
    expect(state.timelines[10]!.messages[1]!.reactions).toEqual({})
  })

  it('moves read markers forward and recounts our unread', () => {
    const state = stateWithRoom()
    applyEvent(state, event(101, 'message.new', 10, { message: message(6) }))
    applyEvent(state, event(102, 'message.new', 10, { message: message(7, { mentions: [1] }) }))
    applyEvent(state, event(103, 'read', 10, { user: 2, message: 7 }))
    expect(state.reads[10]).toEqual({ 2: 7 })
    applyEvent(state, event(104, 'read', 10, { user: 1, message: 6 }))
    expect(state.rooms[10]!.unread).toBe(1)
    expect(state.rooms[10]!.mentions).toBe(1)
    applyEvent(state, event(105, 'read', 10, { user: 1, message: 7 }))
    expect(state.rooms[10]!.unread).toBe(0)
    expect(state.rooms[10]!.mentions).toBe(0)
    applyEvent(state, event(106, 'read', 10, { user: 2, message: 3 }))
    expect(state.reads[10]![2]).toBe(7)
  })

  it('adds rooms and keeps our own counters on updates', () => {
    const state = stateWithRoom()
    state.rooms[10]!.unread = 4
    applyEvent(state, event(101, 'room.update', 10, { room: room(10, { name: 'renamed', topic: 't' }) }))
    expect(state.rooms[10]!.name).toBe('renamed')
    expect(state.rooms[10]!.unread).toBe(4)
    expect(state.rooms[10]!.last_message_id).toBe(5)
    applyEvent(state, event(102, 'room.new', 11, { room: room(11, { kind: 'direct', name: '' }) }))
    expect(state.rooms[11]!.kind).toBe('direct')
  })

  it('follows membership, and drops a room we left', () => {
    const state = stateWithRoom()
    state.threads = { 5: { root: message(5), replies: [] } }
    applyEvent(state, event(101, 'member.join', 10, { user: 3 }))
    expect(state.rooms[10]!.members).toEqual([1, 2, 3])
    applyEvent(state, event(102, 'member.join', 10, { user: 3 }))
    expect(state.rooms[10]!.members).toEqual([1, 2, 3])
    applyEvent(state, event(103, 'member.leave', 10, { user: 2 }))
    expect(state.rooms[10]!.members).toEqual([1, 3])
    applyEvent(state, event(104, 'member.leave', 10, { user: 1 }))
    expect(state.rooms[10]).toBeUndefined()
    expect(state.timelines[10]).toBeUndefined()
    expect(state.threads[5]).toBeUndefined()
  })

  it('learns a room we were added to from member.join', () => {
    const state = stateWithRoom()
    applyEvent(state, event(101, 'member.join', 12, { user: 1, room: room(12, { members: [2, 1] }) }))
    expect(state.rooms[12]!.members).toEqual([2, 1])
  })

  it('adds and updates users', () => {
    const state = stateWithRoom()
    applyEvent(state, event(101, 'user.new', null, { user: user(3) }))
    applyEvent(state, event(102, 'user.update', null, { user: user(2, { display_name: 'Bea' }) }))
    expect(state.users[3]!.username).toBe('user3')
    expect(state.users[2]!.display_name).toBe('Bea')
  })

  it('converges: two tabs with different histories end in the same state', () => {
    const events = [
      event(101, 'message.new', 10, { message: message(6) }),
      event(102, 'reaction', 10, { message: 6, user: 1, emoji: '🎉', on: true }),
      event(103, 'message.edit', 10, { message: message(6, { body: 'x', edited_at: 3 }) }),
      event(104, 'message.new', 10, { message: message(7, { thread: 6, created_at: 9_999 }) }),
      event(105, 'read', 10, { user: 1, message: 6 }),
    ]
    const a = stateWithRoom()
    const b = stateWithRoom()
    for (const e of events) applyEvent(a, e)
    // b sees the first two, reconnects, and is replayed from seq 101 with duplicates.
    applyEvent(b, events[0]!)
    applyEvent(b, events[1]!)
    for (const e of events) applyEvent(b, e)
    expect(b).toEqual(a)
    const edited = a.timelines[10]!.messages[2]!
    expect(edited.body).toBe('x')
    expect(edited.reactions).toEqual({ '🎉': [1] })
    expect(edited.reply_count).toBe(1)
  })
})
