import { http } from './http'
import type { ChannelListing, Room, RoomId, RoomKind, UserId } from './types'

export interface NewRoom {
  kind: RoomKind
  name?: string
  topic?: string
  members?: UserId[]
}

export const roomsApi = {
  /** `seq`: the event-log position the rooms' counters are exact at. */
  list: () => http.get<{ rooms: Room[]; seq?: number }>('/api/rooms'),
  get: (id: RoomId) => http.get<{ room: Room; seq?: number }>(`/api/rooms/${id}`),
  channels: () => http.get<{ channels: ChannelListing[] }>('/api/channels'),
  create: (room: NewRoom) => http.post<{ room: Room }>('/api/rooms', room),
  update: (id: RoomId, changes: { name?: string; topic?: string; p2p?: boolean }) =>
    http.patch<{ room: Room }>(`/api/rooms/${id}`, changes),
  join: (id: RoomId) => http.post<{ room: Room }>(`/api/rooms/${id}/join`),
  leave: (id: RoomId) => http.post<void>(`/api/rooms/${id}/leave`),
  addMembers: (id: RoomId, userIds: UserId[]) =>
    http.post<{ room: Room }>(`/api/rooms/${id}/members`, { user_ids: userIds }),
  removeMember: (id: RoomId, userId: UserId) => http.delete(`/api/rooms/${id}/members/${userId}`),
  /** Close a direct room in your list, on every device, until a new message arrives. */
  hide: (id: RoomId) => http.post<{ hidden_through: number }>(`/api/rooms/${id}/hide`),
  reads: (id: RoomId) => http.get<{ reads: Record<string, number> }>(`/api/rooms/${id}/reads`),
}
