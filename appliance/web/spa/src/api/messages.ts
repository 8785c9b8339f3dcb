import { http } from './http'
import type { Message, MessageId, RoomId } from './types'

export interface Page {
  messages: Message[]
  has_more: boolean
}

export const messagesApi = {
  /** Oldest first. No cursor: the newest page. */
  page: (room: RoomId, cursor: { before?: MessageId; after?: MessageId; limit?: number } = {}) =>
    http.get<Page>(`/api/rooms/${room}/messages`, cursor),
  thread: (id: MessageId) =>
    http.get<{ root: Message; replies: Message[]; messages: Message[] }>(
      `/api/messages/${id}/thread`,
    ),
  search: (q: string, options: { room?: RoomId; before?: MessageId; limit?: number } = {}) =>
    http.get<{ messages: Message[] }>('/api/search', { q, ...options }),
}
