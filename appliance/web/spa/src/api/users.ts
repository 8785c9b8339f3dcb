import { http } from './http'
import type { User, UserId } from './types'

export const usersApi = {
  list: () => http.get<{ users: User[] }>('/api/users'),
  get: (id: UserId) => http.get<{ user: User }>(`/api/users/${id}`),
  createInvite: (uses = 1) =>
    http.post<{ code: string; url: string }>('/api/admin/invites', { uses }),
}
