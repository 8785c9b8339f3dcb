// A person's notification settings on the server (docs/api.md, "Notification settings").
import { http } from './http'
import type { RoomId } from './types'

export type Level = 'all' | 'mentions' | 'nothing'

/** A room's own setting; null keeps the person's default for that kind of room. */
export interface RoomNotify {
  room: RoomId
  level: Level | null
  muted_until: number | null
}

/** Her own fields: what a `notify.settings` event carries. */
export interface PersonNotify {
  direct_level: Level
  group_level: Level
  keywords: string[]
  /** Daily quiet hours, "HH:MM" in her time zone; both or neither. */
  dnd_start: string | null
  dnd_end: string | null
  snoozed_until: number | null
  hide_text: boolean
}

export interface NotifySettings extends PersonNotify {
  /** Only rooms with a setting of their own, by room id. */
  rooms: Record<string, RoomNotify>
}

/** For some minutes from now, or until a moment (ms); the server bounds it to a year. */
export type Until = { minutes: number } | { until: number }

export interface PersonChanges {
  direct_level?: Level
  group_level?: Level
  keywords?: string[]
  dnd_start?: string | null
  dnd_end?: string | null
  snooze?: Until | null
  hide_text?: boolean
}

export interface RoomChanges {
  level?: Level | null
  mute?: Until | null
}

type Reply = { notifications: NotifySettings }

export const notificationsApi = {
  get: () => http.get<Reply>('/api/me/notifications'),
  update: (changes: PersonChanges) => http.put<Reply>('/api/me/notifications', changes),
  updateRoom: (room: RoomId, changes: RoomChanges) =>
    http.put<Reply>(`/api/rooms/${room}/notifications`, changes),
}
