// Applies server events to the client's state: the "Deriving state" rules of docs/api.md.
// Deterministic and free of I/O. It mutates the state it is given (a plain object in tests,
// the stores' reactive objects in the app) so that a 10,000-message timeline is never copied
// per event. Every rule is safe to apply on top of a REST snapshot that already contains the
// change (see the guards), so a reload racing with live events converges.
import type {
  ChatEvent,
  Message,
  MessageId,
  Room,
  RoomId,
  User,
  UserId,
} from '@/api/types'
import { findMessage, upsertSorted, type Timeline } from './timeline'

export interface ThreadState {
  root: Message | null
  /** Oldest first. */
  replies: Message[]
}

export interface ChatState {
  me: UserId | null
  /** The last event applied; null before the first hello. */
  seq: number | null
  users: Record<UserId, User>
  rooms: Record<RoomId, Room>
  timelines: Record<RoomId, Timeline>
  /** Keyed by root message id; only threads someone opened. */
  threads: Record<MessageId, ThreadState>
  /** Per room: user id → last read message id. */
  reads: Record<RoomId, Record<UserId, MessageId>>
  /** Per room: the event-log position its counters came from the server exact at (REST
   * answers say it): an event at or before it is already counted there. */
  countedThrough?: Record<RoomId, number>
}

export function emptyChatState(): ChatState {
  return {
    me: null,
    seq: null,
    users: {},
    rooms: {},
    timelines: {},
    threads: {},
    reads: {},
    countedThrough: {},
  }
}

export function mentionsUser(message: Message, user: UserId | null): boolean {
  if (user === null || message.deleted || message.author === user) return false
  return message.mentions.includes(user) || message.mention_room === true
}

/** Applies one event; returns false when it was already applied (seq not newer). */
export function applyEvent(state: ChatState, event: ChatEvent): boolean {
  if (state.seq !== null && event.seq <= state.seq) return false
  state.seq = event.seq
  const roomId = event.room
  switch (event.kind) {
    case 'message.new':
      onNewMessage(state, event.data.message, event.seq)
      break
    case 'message.edit':
      replaceMessage(state, event.data.message)
      break
    case 'message.delete':
      onDeletedMessage(state, event.data.message)
      break
    case 'reaction':
      setReaction(state, event.data.message, event.data.user, event.data.emoji, event.data.on)
      break
    case 'read':
      if (roomId !== null) {
        onRead(state, roomId, event.data.user, event.data.message, event.data.moved_back === true)
      }
      break
    case 'thread.read':
      break // the counts come from the server (countersNeedServer)
    case 'room.new':
    case 'room.update':
      upsertRoom(state, event.data.room)
      break
    case 'member.join':
      if (roomId !== null) onMemberJoin(state, roomId, event.data.user, event.data.room)
      break
    case 'member.leave':
      if (roomId !== null) onMemberLeave(state, roomId, event.data.user)
      break
    case 'user.new':
    case 'user.update':
      upsertUser(state, event.data.user)
      break
    case 'room.hidden': {
      const room = state.rooms[event.data.room]
      if (room) room.hidden_through = event.data.hidden_through
      break
    }
  }
  return true
}

/** Every copy of a message we hold: in its room's timeline, as a thread root, as a reply. */
function copiesOf(state: ChatState, roomId: RoomId, id: MessageId): Message[] {
  const copies: Message[] = []
  const inTimeline = state.timelines[roomId]
  const fromTimeline = inTimeline && findMessage(inTimeline.messages, id)
  if (fromTimeline) copies.push(fromTimeline)
  for (const thread of Object.values(state.threads)) {
    if (thread.root?.id === id) copies.push(thread.root)
    const reply = findMessage(thread.replies, id)
    if (reply) copies.push(reply)
  }
  return copies
}

function findAnywhere(state: ChatState, id: MessageId): Message | undefined {
  for (const timeline of Object.values(state.timelines)) {
    const found = findMessage(timeline.messages, id)
    if (found) return found
  }
  for (const thread of Object.values(state.threads)) {
    if (thread.root?.id === id) return thread.root
    const reply = findMessage(thread.replies, id)
    if (reply) return reply
  }
  return undefined
}

/** Puts a message where it belongs (timeline or thread), e.g. from a send reply. */
export function upsertMessage(state: ChatState, message: Message): void {
  if (message.thread !== null) {
    const thread = state.threads[message.thread]
    if (thread) upsertSorted(thread.replies, message)
    return
  }
  const timeline = state.timelines[message.room]
  if (timeline && !timeline.hasNewer) upsertSorted(timeline.messages, message)
  else if (timeline) {
    const held = findMessage(timeline.messages, message.id)
    if (held) Object.assign(held, message)
  }
  const root = state.threads[message.id]
  if (root) root.root = message
}

/** Whether the room's counters, as the server last gave them, already count this event. */
function alreadyCounted(state: ChatState, room: Room, seq: number): boolean {
  return seq <= (state.countedThrough?.[room.id] ?? 0)
}

function onNewMessage(state: ChatState, message: Message, seq: number): void {
  if (message.thread !== null) {
    onNewReply(state, message, seq)
    return
  }
  const room = state.rooms[message.room]
  if (room && message.id > (room.last_message_id ?? 0)) {
    room.last_message_id = message.id
    const unreadForMe =
      !alreadyCounted(state, room, seq) &&
      message.author !== state.me &&
      !message.deleted &&
      message.id > (room.last_read_message_id ?? 0)
    if (unreadForMe) {
      room.unread += 1
      if (mentionsUser(message, state.me)) room.mentions += 1
    }
  }
  upsertMessage(state, message)
}

function onNewReply(state: ChatState, reply: Message, seq: number): void {
  const rootId = reply.thread as MessageId
  const thread = state.threads[rootId]
  const alreadyHeld = thread ? findMessage(thread.replies, reply.id) !== undefined : false
  if (thread) upsertSorted(thread.replies, reply)
  if (alreadyHeld) return
  // Replay of a reply deleted since: the server redacted this event to the tombstone, and
  // its message.delete follows. Held in an open thread, it is not counted (the delete finds
  // it deleted and uncounts nothing); not held, it is (the delete uncounts it).
  if (reply.deleted && thread) return
  // A mention in a thread counts until this user's marker of the thread passes it, which a
  // reply that is new to us has not (docs/api.md, "Deriving state"), unless the counters the
  // server gave us were taken after it (a reload racing with the reply).
  const room = state.rooms[reply.room]
  if (room && mentionsUser(reply, state.me) && !alreadyCounted(state, room, seq)) {
    room.mentions += 1
    room.thread_mentions = (room.thread_mentions ?? 0) + 1
  }
  for (const root of copiesOf(state, reply.room, rootId)) {
    if (root.thread !== null) continue
    // A root fetched after this reply was stored already counts it.
    if (!thread && reply.created_at <= (root.last_reply_at ?? 0)) continue
    root.reply_count += 1
    root.last_reply_at = Math.max(root.last_reply_at ?? 0, reply.created_at)
  }
}

function replaceMessage(state: ChatState, message: Message): void {
  for (const copy of copiesOf(state, message.room, message.id)) Object.assign(copy, message)
}

function onDeletedMessage(state: ChatState, tombstone: Message): void {
  const before = findAnywhere(state, tombstone.id)
  const wasLive = before ? !before.deleted : true
  const wasUnreadByMe =
    before !== undefined &&
    !before.deleted &&
    before.thread === null &&
    before.author !== state.me
  const mentionedMe = before !== undefined && mentionsUser(before, state.me)
  replaceMessage(state, tombstone)
  const room = state.rooms[tombstone.room]
  if (room && wasUnreadByMe && tombstone.id > (room.last_read_message_id ?? 0)) {
    room.unread = Math.max(0, room.unread - 1)
    if (mentionedMe) room.mentions = Math.max(0, room.mentions - 1)
  }
  if (tombstone.thread !== null && wasLive) {
    for (const root of copiesOf(state, tombstone.room, tombstone.thread)) {
      if (root.thread === null) root.reply_count = Math.max(0, root.reply_count - 1)
    }
  }
}

function setReaction(
  state: ChatState,
  messageId: MessageId,
  user: UserId,
  emoji: string,
  on: boolean,
): void {
  const seen = new Set<Message>()
  const candidates: Message[] = []
  for (const timeline of Object.values(state.timelines)) {
    const found = findMessage(timeline.messages, messageId)
    if (found) candidates.push(found)
  }
  for (const thread of Object.values(state.threads)) {
    if (thread.root?.id === messageId) candidates.push(thread.root)
    const reply = findMessage(thread.replies, messageId)
    if (reply) candidates.push(reply)
  }
  for (const message of candidates) {
    if (seen.has(message)) continue
    seen.add(message)
    const users = message.reactions[emoji] ?? []
    const has = users.includes(user)
    if (on && !has) message.reactions[emoji] = [...users, user]
    if (!on && has) {
      const left = users.filter((u) => u !== user)
      if (left.length) message.reactions[emoji] = left
      else delete message.reactions[emoji]
    }
  }
}

function onRead(
  state: ChatState,
  roomId: RoomId,
  user: UserId,
  messageId: MessageId,
  movedBack: boolean,
): void {
  const markers = (state.reads[roomId] ??= {})
  // A marker only moves back by "mark unread" (moved_back); any other lower one is stale.
  markers[user] = movedBack ? messageId : Math.max(markers[user] ?? 0, messageId)
  if (user !== state.me) return
  const room = state.rooms[roomId]
  if (!room) return
  const previous = room.last_read_message_id ?? 0
  room.last_read_message_id = movedBack ? messageId : Math.max(previous, messageId)
  recountUnread(state, room, movedBack ? undefined : previous)
}

/** Events after which this user's counters of a room must be asked of the server (they
 * depend on what the client does not hold: a thread's marker, messages not loaded). Looked
 * at before the event is applied. */
export function countersNeedServer(state: ChatState, event: ChatEvent): RoomId | null {
  if (event.kind === 'thread.read') return event.data.room
  if (event.kind === 'read' && event.data.user === state.me && event.data.moved_back === true) {
    return event.room
  }
  if (event.kind === 'message.delete' && event.data.message.thread !== null) {
    const room = state.rooms[event.data.message.room]
    if (room && (room.thread_mentions ?? 0) > 0) return room.id
  }
  return null
}

/** After our own marker moved: exact when we hold the messages after it; else, when we hold
 * the messages it moved over (from `previous`), less those; else a bound. */
export function recountUnread(state: ChatState, room: Room, previous?: MessageId): void {
  const marker = room.last_read_message_id ?? 0
  const inThreads = room.thread_mentions ?? 0
  if (marker >= (room.last_message_id ?? 0)) {
    room.unread = 0
    room.mentions = inThreads
    return
  }
  const timeline = state.timelines[room.id]
  const first = timeline?.messages[0]
  if (!timeline || !first) return
  const holdsAfter = !timeline.hasNewer && (first.id <= marker || !timeline.hasOlder)
  const holdsMoved =
    previous !== undefined && previous < marker && (first.id <= previous || !timeline.hasOlder)
  if (!holdsAfter && !holdsMoved) return
  let unread = 0
  let mentions = 0
  for (const m of timeline.messages) {
    if (m.author === state.me || m.deleted) continue
    if (holdsAfter ? m.id <= marker : m.id <= (previous as MessageId) || m.id > marker) continue
    unread += 1
    if (mentionsUser(m, state.me)) mentions += 1
  }
  if (holdsAfter) {
    room.unread = unread
    room.mentions = mentions + inThreads
  } else {
    room.unread = Math.max(0, room.unread - unread)
    room.mentions = Math.max(inThreads, room.mentions - mentions)
  }
}

/** Rooms in events carry zeroed per-user counters: keep our own. */
export function upsertRoom(state: ChatState, incoming: Room): void {
  const held = state.rooms[incoming.id]
  if (!held) {
    state.rooms[incoming.id] = { ...incoming, members: [...incoming.members] }
    return
  }
  held.kind = incoming.kind
  held.name = incoming.name
  held.topic = incoming.topic
  held.members = [...incoming.members]
  if (incoming.owners !== undefined) held.owners = [...incoming.owners]
  if (incoming.created_by !== undefined) held.created_by = incoming.created_by
  if (incoming.created_at !== undefined) held.created_at = incoming.created_at
  if (incoming.p2p !== undefined) held.p2p = incoming.p2p
  if (incoming.avatar_url !== undefined) held.avatar_url = incoming.avatar_url
}

function onMemberJoin(state: ChatState, roomId: RoomId, user: UserId, room?: Room): void {
  if (room) upsertRoom(state, room)
  const held = state.rooms[roomId]
  if (held && !held.members.includes(user)) held.members.push(user)
}

function onMemberLeave(state: ChatState, roomId: RoomId, user: UserId): void {
  if (user === state.me) {
    forgetRoom(state, roomId)
    return
  }
  const held = state.rooms[roomId]
  if (held) held.members = held.members.filter((m) => m !== user)
  const markers = state.reads[roomId]
  if (markers) delete markers[user]
}

export function forgetRoom(state: ChatState, roomId: RoomId): void {
  delete state.rooms[roomId]
  delete state.timelines[roomId]
  delete state.reads[roomId]
  for (const [rootId, thread] of Object.entries(state.threads)) {
    if (thread.root?.room === roomId) delete state.threads[Number(rootId)]
  }
}

export function upsertUser(state: ChatState, user: User): void {
  const held = state.users[user.id]
  if (held) Object.assign(held, user)
  else state.users[user.id] = { ...user }
}

export function setPresence(
  state: ChatState,
  user: UserId,
  online: boolean,
  lastSeen: number | null,
): void {
  const held = state.users[user]
  if (!held) return
  held.online = online
  held.last_seen = lastSeen
}
