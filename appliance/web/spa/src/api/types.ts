// Wire types of docs/api.md. Names follow the server's JSON exactly.
import type { PersonNotify, RoomNotify } from './notifications'

export type UserId = number
export type RoomId = number
export type MessageId = number

export interface User {
  id: UserId
  username: string
  display_name: string
  admin: boolean
  avatar_url: string | null
  status_text: string
  online: boolean
  deactivated?: boolean
  last_seen?: number | null
  /** An account the appliance runs itself (Echo, the test call): never offered as a person. */
  system?: boolean
  /** The IANA time zone her browser reported (Europe/Paris); null until it has. */
  timezone?: string | null
}

export type RoomKind = 'channel' | 'private' | 'direct'

export interface Room {
  id: RoomId
  kind: RoomKind
  name: string
  topic: string
  members: UserId[]
  unread: number
  mentions: number
  /** The part of `mentions` made in threads (cleared by seeing the thread, not the room). */
  thread_mentions?: number
  last_message_id: MessageId | null
  last_read_message_id: MessageId | null
  /** Members who may rename the room and remove people (admins may too). */
  owners?: UserId[]
  created_by?: UserId | null
  created_at?: number
  avatar_url?: string | null
  /** A direct room whose messages travel only between its members' browsers (docs/api/p2p.md). */
  p2p?: boolean
  /** You closed this direct room while its newest message was this one (0: none): it stays
   * out of your list until a newer message arrives. Null or absent: shown. */
  hidden_through?: MessageId | null
}

export interface ChannelListing {
  id: RoomId
  kind: 'channel'
  name: string
  topic: string
  member_count: number
  joined: boolean
}

export interface Upload {
  id: number
  name: string
  size: number
  mime: string
  url: string
  /** Images only (≤ 800 px); null for other files. Optional: older cached messages lack it. */
  thumb_url?: string | null
  width?: number | null
  height?: number | null
  /** Voice and video messages: the recorder's measure (WebM files carry none). */
  duration_ms?: number | null
  animated?: boolean
}

export interface Message {
  id: MessageId
  room: RoomId
  author: UserId
  thread: MessageId | null
  body: string
  attachments: Upload[]
  created_at: number
  edited_at: number | null
  deleted: boolean
  client_id: string | null
  reply_count: number
  last_reply_at?: number | null
  reactions: Record<string, UserId[]>
  mentions: UserId[]
  mention_room?: boolean
  /** Set on the server's own line about a call in the room (docs/api/calls.md). */
  call?: CallRecord | null
}

export interface CallRecord {
  id: number
  event: 'started' | 'ended' | 'missed'
  duration_ms?: number
  /** The server stopped without warning: when the call ended is not known. */
  interrupted?: boolean
}

export interface Session {
  id: number
  created_at: number
  last_used_at: number
  expires_at: number
  user_agent: string
  address: string
  current: boolean
}

export interface ApiErrorBody {
  error: { code: string; message: string }
}

export type EventKind =
  | 'message.new'
  | 'message.edit'
  | 'message.delete'
  | 'reaction'
  | 'read'
  | 'thread.read'
  | 'room.new'
  | 'room.update'
  | 'member.join'
  | 'member.leave'
  | 'user.new'
  | 'user.update'
  | 'room.hidden'
  | 'notify.settings'
  | 'notify.room'

interface EventBase<K extends EventKind, D> {
  type: 'event'
  seq: number
  kind: K
  room: RoomId | null
  data: D
}

export type ChatEvent =
  | EventBase<'message.new' | 'message.edit' | 'message.delete', { message: Message }>
  | EventBase<'reaction', { message: MessageId; user: UserId; emoji: string; on: boolean }>
  | EventBase<'read', { user: UserId; message: MessageId; moved_back?: boolean }>
  | EventBase<'thread.read', { room: RoomId; thread: MessageId; message: MessageId }>
  | EventBase<'room.new' | 'room.update', { room: Room }>
  | EventBase<'member.join', { user: UserId; room?: Room }>
  | EventBase<'member.leave', { user: UserId }>
  | EventBase<'room.hidden', { room: RoomId; hidden_through: MessageId | null }>
  | EventBase<'user.new' | 'user.update', { user: User }>
  | EventBase<'notify.settings', { notifications: PersonNotify }>
  | EventBase<'notify.room', RoomNotify>

export interface PresenceFrame {
  type: 'presence'
  user: UserId
  online: boolean
  last_seen: number | null
}

export interface PresenceBatchFrame {
  type: 'presence.batch'
  users: { user: UserId; online: boolean; last_seen: number | null }[]
}

export interface TypingFrame {
  type: 'typing'
  room: RoomId
  user: UserId
}

export interface ReplyFrame {
  type: 'reply'
  req: string | null
  ok: boolean
  data?: unknown
  error?: { code: string; message: string }
}

export type ServerFrame =
  | ChatEvent
  | PresenceFrame
  | PresenceBatchFrame
  | TypingFrame
  | ReplyFrame
  | { type: 'pong' }
