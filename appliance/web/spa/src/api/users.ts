import { http } from './http'
import type { User, UserId } from './types'

export const usersApi = {
  /** The directory (people), with the system accounts (Echo) marked `system`, so that
   * their rooms have a name while no picker offers them. */
  list: async (): Promise<{ users: User[] }> => {
    const found = await http.get<{ users: User[]; system_users?: User[] }>('/api/users')
    const system = (found.system_users ?? []).map((u) => ({ ...u, system: true }))
    return { users: [...found.users, ...system] }
  },
  get: (id: UserId) => http.get<{ user: User }>(`/api/users/${id}`),
  createInvite: (uses = 1) =>
    http.post<{ code: string; url: string }>('/api/admin/invites', { uses }),
}
