import { defineStore } from 'pinia'
import { computed, reactive, ref, toRaw } from 'vue'
import { roomsApi, type NewRoom } from '@/api/rooms'
import type { MessageId, Room, RoomId, UserId } from '@/api/types'
import { compareText } from '@/composables/format'
import { useSessionStore } from './session'
import { useUsersStore } from './users'

function byLabel(label: (room: Room) => string) {
  return (a: Room, b: Room) => compareText(label(a), label(b))
}

/** Counters asked again when the answer is older than the events applied meanwhile. */
const STALE_COUNTER_RETRIES = 3

/** The rooms we are a member of, with our unread and mention counters. */
export const useRoomsStore = defineStore('rooms', () => {
  const byId = reactive<Record<RoomId, Room>>({})
  const session = useSessionStore()
  const users = useUsersStore()

  function otherMembers(room: Room): UserId[] {
    const others = room.members.filter((m) => m !== session.userId)
    return others.length ? others : room.members
  }

  function label(room: Room): string {
    if (room.kind !== 'direct') return room.name
    return otherMembers(room)
      .map((id) => users.displayName(id))
      .join(', ')
  }

  const all = computed(() => Object.values(byId))
  const channels = computed(() =>
    all.value.filter((r) => r.kind === 'channel').sort(byLabel(label)),
  )
  const privateRooms = computed(() =>
    all.value.filter((r) => r.kind === 'private').sort(byLabel(label)),
  )
  /** Direct messages, the most recently active first. */
  const directs = computed(() =>
    all.value
      .filter((r) => r.kind === 'direct')
      .sort((a, b) => (b.last_message_id ?? 0) - (a.last_message_id ?? 0) || a.id - b.id),
  )
  const totalUnread = computed(() => all.value.reduce((n, r) => n + r.unread, 0))
  const totalMentions = computed(() =>
    all.value.reduce((n, r) => n + r.mentions + (r.kind === 'direct' ? r.unread : 0), 0),
  )

  /** Whether the list came (from the cache or the server): until then a room not in it
   *  is not known to be missing, only not loaded yet. */
  const loaded = ref(false)

  /** Per room, the event-log position its counters are exact at, as the server said (the
   *  reducer counts only events after it). Plain: nothing is drawn from it. */
  const countedThrough: Record<RoomId, number> = {}

  /** Per room, our read marker as moved here and not yet confirmed by the server (read
   *  offline, or before the catch-up). Rooms and counters from the server are older than
   *  it, so it stays over them until the server has it. */
  const unsentReads: Record<RoomId, MessageId> = {}

  function readHere(id: RoomId, message: MessageId): void {
    unsentReads[id] = Math.max(unsentReads[id] ?? 0, message)
  }

  /** The server has our marker at `message` (or refused it for good). */
  function readHeard(id: RoomId, message: MessageId): void {
    if ((unsentReads[id] ?? Infinity) <= message) delete unsentReads[id]
  }

  /** "Mark as unread" moves the marker back on purpose: a forward one not sent is dropped. */
  function forgetUnsentRead(id: RoomId): void {
    delete unsentReads[id]
  }

  /** A room from the server, with our unsent marker kept over it. Read through the newest
   *  message, its counters are known; read partway, the caller asks for them once sent. */
  function keepUnsentRead(room: Room): Room {
    const mine = unsentReads[room.id]
    if (mine === undefined || mine <= (room.last_read_message_id ?? 0)) return room
    room.last_read_message_id = mine
    if (mine >= (room.last_message_id ?? 0)) {
      room.unread = 0
      room.mentions = room.thread_mentions ?? 0
    }
    return room
  }

  /** The list as the server (or the cache) gave it; an unchanged room keeps its object
   *  (nothing redrawn). `seq`: the position the list's counters are exact at (REST),
   *  unknown for a cached copy. `isList: false` when it is only cleared (signing out). */
  function replaceAll(
    rooms: readonly Room[],
    { isList = true, seq }: { isList?: boolean; seq?: number } = {},
  ): void {
    const listed = new Set(rooms.map((room) => room.id))
    for (const id of Object.keys(byId)) if (!listed.has(Number(id))) delete byId[Number(id)]
    for (const id of Object.keys(unsentReads)) if (!listed.has(Number(id))) delete unsentReads[Number(id)]
    for (const id of Object.keys(countedThrough)) delete countedThrough[Number(id)]
    for (const given of rooms) {
      if (seq !== undefined) countedThrough[given.id] = seq
      const room = keepUnsentRead({ ...given, members: [...given.members] })
      const held = byId[room.id]
      if (!held || JSON.stringify(toRaw(held)) !== JSON.stringify(room)) byId[room.id] = room
    }
    loaded.value = isList
  }

  function put(room: Room): Room {
    const held = byId[room.id]
    if (held) Object.assign(held, room)
    else byId[room.id] = { ...room }
    return byId[room.id] as Room
  }

  function isOwnerOrAdmin(room: Room): boolean {
    if (session.user?.admin === true) return true
    const me = session.userId
    if (me === null) return false
    return room.owners ? room.owners.includes(me) : room.created_by === me
  }

  async function create(room: NewRoom): Promise<Room> {
    const { room: created } = await roomsApi.create(room)
    return put(created)
  }

  async function openDirect(userIds: UserId[]): Promise<Room> {
    return create({ kind: 'direct', members: userIds })
  }

  async function join(id: RoomId): Promise<Room> {
    const { room } = await roomsApi.join(id)
    return put(room)
  }

  async function leave(id: RoomId): Promise<void> {
    await roomsApi.leave(id)
    delete byId[id]
  }

  async function rename(id: RoomId, changes: { name?: string; topic?: string }): Promise<Room> {
    const { room } = await roomsApi.update(id, changes)
    const held = byId[id]
    if (held) {
      held.name = room.name
      held.topic = room.topic
      return held
    }
    return put(room)
  }

  async function addMembers(id: RoomId, userIds: UserId[]): Promise<void> {
    const { room } = await roomsApi.addMembers(id, userIds)
    const held = byId[id]
    if (held) held.members = [...room.members]
  }

  /** Our counters of one room as the server has them (after what the client cannot count:
   * a thread seen, a marker moved back over messages not loaded). `applied` is the last event applied here: an
   *  answer older than it would drop what those events counted, so it is asked again. */
  async function refreshCounters(id: RoomId, applied: () => number | null = () => null): Promise<void> {
    let answer = await roomsApi.get(id)
    for (let again = 0; again < STALE_COUNTER_RETRIES; again += 1) {
      const seen = applied()
      if (answer.seq === undefined || seen === null || answer.seq >= seen) break
      answer = await roomsApi.get(id)
    }
    const { room, seq } = answer
    const held = byId[id]
    if (!held) return
    if (seq !== undefined) countedThrough[id] = seq
    held.unread = room.unread
    held.mentions = room.mentions
    held.thread_mentions = room.thread_mentions ?? 0
    held.last_read_message_id = room.last_read_message_id
    keepUnsentRead(held)
  }

  async function removeMember(id: RoomId, userId: UserId): Promise<void> {
    await roomsApi.removeMember(id, userId)
    const held = byId[id]
    if (held) held.members = held.members.filter((m) => m !== userId)
  }

  return {
    byId,
    loaded,
    all,
    channels,
    privateRooms,
    directs,
    totalUnread,
    totalMentions,
    label,
    otherMembers,
    replaceAll,
    countedThrough,
    unsentReads,
    readHere,
    readHeard,
    forgetUnsentRead,
    put,
    isOwnerOrAdmin,
    create,
    openDirect,
    join,
    leave,
    rename,
    addMembers,
    removeMember,
    refreshCounters,
  }
})
