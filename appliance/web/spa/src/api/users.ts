import { http } from './http'
import type { User, UserId } from './types'

/** What GET /api/users answers. */
export interface UserDirectory {
  users: User[]
  system_users?: User[]
}

/** The people, with the system accounts (Echo) marked `system`, so that their rooms have a
 * name while no picker offers them. */
export function directoryUsers(found: UserDirectory): User[] {
  const system = (found.system_users ?? []).map((u) => ({ ...u, system: true }))
  return [...found.users, ...system]
}

export const usersApi = {
  /** The directory (people), system accounts marked (directoryUsers). */
  list: async (): Promise<{ users: User[] }> => ({
    users: directoryUsers(await http.get<UserDirectory>('/api/users')),
  }),
  get: (id: UserId) => http.get<{ user: User }>(`/api/users/${id}`),
  createInvite: (uses = 1) =>
    http.post<{ code: string; url: string }>('/api/admin/invites', { uses }),
}
