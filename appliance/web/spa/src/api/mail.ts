// Email through the office's own mail server (issue 16; docs/api.md, "Email"). The SMTP
// password is write-only: the server says only whether one is set.
import { http } from './http'

export type MailSecurity = 'none' | 'starttls' | 'tls'

export interface MailSettings {
  configured: boolean
  host: string
  port: number
  security: MailSecurity
  username: string
  password_set: boolean
  from_address: string
  verify_certificate: boolean
  ca_pem: string | null
  digest_minutes: number
}

/** What the admin changes; `password` only when typed ('' removes it). */
export type MailChanges = Partial<Omit<MailSettings, 'configured' | 'password_set'>> & { password?: string }

export interface MyEmail {
  email: string | null
  digest: boolean
}

export const mailApi = {
  settings: () => http.get<MailSettings>('/api/admin/mail'),
  update: (changes: MailChanges) => http.patch<MailSettings>('/api/admin/mail', changes),
  test: (to: string | null) => http.post<{ sent_to: string }>('/api/admin/mail/test', { to }),
  invite: (email: string, uses: number, expiresInS: number) =>
    http.post<{ code: string; url: string; emailed_to: string }>('/api/admin/mail/invite', {
      email,
      uses,
      expires_in_s: expiresInS,
    }),
  mine: () => http.get<MyEmail>('/api/me/email'),
  setMine: (changes: Partial<MyEmail>) => http.put<MyEmail>('/api/me/email', changes),
  status: () => http.get<{ reset_by_email: boolean }>('/api/auth/mail'),
  forgot: (email: string) => http.post<{ message: string }>('/api/auth/forgot', { email }),
}
