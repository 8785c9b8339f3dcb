import { describe, expect, it } from 'vitest'
import { event, room, user } from '@/testing/factories'
import { applyEvent, emptyChatState } from './reducer'

describe('room.hidden', () => {
  it('closes and reopens a direct room on every device of its member', () => {
    const state = emptyChatState()
    state.me = 1
    state.seq = 10
    state.users = { 1: user(1), 2: user(2, { system: true }) }
    state.rooms = { 7: room(7, { kind: 'direct', members: [1, 2], last_message_id: 3 }) }
    applyEvent(state, event(11, 'room.hidden', null, { room: 7, hidden_through: 3 }))
    expect(state.rooms[7]?.hidden_through).toBe(3)
    applyEvent(state, event(12, 'room.hidden', null, { room: 7, hidden_through: null }))
    expect(state.rooms[7]?.hidden_through).toBeNull()
    // A room we do not hold is no error.
    expect(applyEvent(state, event(13, 'room.hidden', null, { room: 99, hidden_through: 1 }))).toBe(true)
  })
})
