// What a notification of a message says and where its click leads: the same shape as the
// Web Push payload the server sends (docs/api.md, "Web Push"), so the page and the
// service worker show both alike.
import type { MessageId, RoomId } from '@/api/types'

export interface MessagePayload {
  v: 1
  kind: 'message'
  room: RoomId
  thread: MessageId | null
  message: MessageId
  title: string
  body: string
  tag: string
  url: string
  unread: number | null
}

/** What the service worker keeps on a notification: enough to route a click, reply, read. */
export interface NotificationData {
  room: RoomId
  thread: MessageId | null
  message: MessageId
  url: string
}

/** One notification per room: a newer message replaces the room's older one. */
export function roomTag(room: RoomId): string {
  return `room-${room}`
}

export function messageUrl(room: RoomId, message: MessageId, thread: MessageId | null): string {
  const query = new URLSearchParams({ message: String(message) })
  if (thread !== null) query.set('thread', String(thread))
  return `/rooms/${room}?${query.toString()}`
}

export function messagePayload(
  m: { room: RoomId; id: MessageId; thread: MessageId | null },
  title: string,
  body: string,
  unread: number | null,
): MessagePayload {
  return {
    v: 1,
    kind: 'message',
    room: m.room,
    thread: m.thread,
    message: m.id,
    title,
    body,
    tag: roomTag(m.room),
    url: messageUrl(m.room, m.id, m.thread),
    unread,
  }
}

/** The data of a notification we showed, or null for anything else (another app's shape). */
export function notificationData(value: unknown): NotificationData | null {
  if (typeof value !== 'object' || value === null) return null
  const d = value as Partial<NotificationData>
  if (!Number.isInteger(d.room) || !Number.isInteger(d.message) || typeof d.url !== 'string') return null
  return { room: d.room as RoomId, thread: d.thread ?? null, message: d.message as MessageId, url: d.url }
}
