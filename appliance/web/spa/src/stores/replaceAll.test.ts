// A reload (the hello's, right after boot's answers painted the room) replaces people and
// rooms; unchanged ones keep their objects, so what shows them is not drawn again.
import { createPinia, setActivePinia } from 'pinia'
import { beforeEach, describe, expect, it } from 'vitest'
import { toRaw } from 'vue'
import { room, user } from '@/testing/factories'
import { useRoomsStore } from './rooms'
import { useUsersStore } from './users'

describe('replaceAll', () => {
  beforeEach(() => setActivePinia(createPinia()))

  it('keeps unchanged rooms, replaces changed ones, drops the gone', () => {
    const rooms = useRoomsStore()
    rooms.replaceAll([room(1), room(2), room(3)])
    const [one, two] = [toRaw(rooms.byId[1]), toRaw(rooms.byId[2])]
    rooms.replaceAll([room(1), room(2, { name: 'renamed' })])
    expect(toRaw(rooms.byId[1])).toBe(one)
    expect(toRaw(rooms.byId[2])).not.toBe(two)
    expect(rooms.byId[2]!.name).toBe('renamed')
    expect(rooms.byId[3]).toBeUndefined()
  })

  it('keeps unchanged people', () => {
    const users = useUsersStore()
    users.replaceAll([user(1), user(2)])
    const one = toRaw(users.byId[1])
    users.replaceAll([user(1), user(2, { display_name: 'New' })])
    expect(toRaw(users.byId[1])).toBe(one)
    expect(users.byId[2]!.display_name).toBe('New')
  })
})
