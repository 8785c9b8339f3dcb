import { http } from './http'
import type { Session, User } from './types'

export interface ProfileChanges {
  display_name?: string
  status_text?: string
  /** An IANA name (Intl's), so others see the person's local time; null forgets it. */
  timezone?: string | null
  password?: string
  old_password?: string
}

export const authApi = {
  health: () => http.get<{ status: string; version: string; setup: boolean }>('/api/health'),
  login: (username: string, password: string) =>
    http.post<{ user: User }>('/api/auth/login', { username, password }),
  register: (fields: { username: string; password: string; display_name?: string; invite?: string }) =>
    http.post<{ user: User }>('/api/auth/register', fields),
  logout: () => http.post<void>('/api/auth/logout'),
  me: () => http.get<{ user: User }>('/api/me'),
  updateMe: (changes: ProfileChanges) => http.patch<{ user: User }>('/api/me', changes),
  sessions: () => http.get<{ sessions: Session[] }>('/api/sessions'),
  revokeSession: (id: number) => http.delete(`/api/sessions/${id}`),
}
