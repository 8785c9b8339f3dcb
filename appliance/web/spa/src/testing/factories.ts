// Small builders for wire objects in tests.
import type { ChatEvent, Message, Room, User } from '@/api/types'

export function user(id: number, over: Partial<User> = {}): User {
  return {
    id,
    username: `user${id}`,
    display_name: `User ${id}`,
    admin: false,
    avatar_url: null,
    status_text: '',
    online: false,
    deactivated: false,
    last_seen: null,
    ...over,
  }
}

export function room(id: number, over: Partial<Room> = {}): Room {
  return {
    id,
    kind: 'channel',
    name: `room${id}`,
    topic: '',
    members: [1, 2],
    unread: 0,
    mentions: 0,
    last_message_id: null,
    last_read_message_id: null,
    created_by: 1,
    created_at: 0,
    ...over,
  }
}

export function message(id: number, over: Partial<Message> = {}): Message {
  return {
    id,
    room: 10,
    author: 2,
    thread: null,
    body: `message ${id}`,
    attachments: [],
    created_at: 1_000 + id,
    edited_at: null,
    deleted: false,
    client_id: null,
    reply_count: 0,
    last_reply_at: null,
    reactions: {},
    mentions: [],
    mention_room: false,
    ...over,
  }
}

/** The data of the event kind K (members of ChatEvent cover several kinds each). */
type DataOf<K extends ChatEvent['kind']> = ChatEvent extends infer E
  ? E extends { kind: infer EK; data: infer D }
    ? K extends EK
      ? D
      : never
    : never
  : never

export function event<K extends ChatEvent['kind']>(
  seq: number,
  kind: K,
  room: number | null,
  data: DataOf<K>,
): ChatEvent {
  return { type: 'event', seq, kind, room, data } as ChatEvent
}
