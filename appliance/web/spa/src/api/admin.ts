// The admin area's API (docs/api.md, "Admin area"). Admins only: the server answers 403
// to everyone else. Uploads go as multipart/form-data; all of it through http.ts.
import { http } from './http'
import type { User, UserId } from './types'

export type Registration = 'invite' | 'open' | 'closed'

export interface AdminUser extends User {
  deactivated: boolean
  last_seen: number | null
  created_at: number
}

export interface Invite {
  id: number
  created_by: UserId | null
  created_at: number
  expires_at: number | null
  uses_left: number
  state: 'active' | 'used' | 'expired'
}

export interface OrgSettings {
  org_name: string
  registration: Registration
  device_name?: string
}

export interface Certificate {
  kind: 'local' | 'custom'
  subject: string
  issuer: string
  names: string[]
  addresses: string[]
  not_before: string
  not_after: string
  fingerprint: string
  ca_fingerprint: string
  custom_expired: boolean
  /** False only for an old CA that cannot issue for every `<name>.local` (a rename may need a new CA). */
  ca_covers_every_name?: boolean
}

export interface DeviceInfo {
  name: string
  mdns: { enabled: boolean; name: string | null }
  addresses: string[]
  https: boolean
  certificate: Certificate | null
  ca_url: string | null
  trust_url: string | null
  /** synchronized: an NTP server set the clock; else admins' browsers may (docs/operations.md). */
  clock: { synchronized: boolean; from_browsers: boolean; now_ms: number }
}

/** The device's answer to an admin browser's time (POST /api/admin/clock). */
export interface ClockReport {
  synchronized: boolean
  from_browsers: boolean
  browser_ahead_ms: number
  set: boolean
  reason: string
}

/** After a rename: whether the system hostname followed (through the privileged helper). */
export interface HostnameStatus {
  name: string
  changed: boolean
  reason: string | null
  message: string | null
}

export type PowerAction = 'reboot' | 'shutdown'

export interface WifiSettings {
  country: string
  ssid: string
  passphrase: string
}

export interface Counts {
  users: number
  rooms: number
  messages: number
}

/** The database's last integrity check (at start; a backup may find damage since). */
export interface Integrity {
  status: 'ok' | 'damaged' | 'incomplete' | 'unchecked'
  problems: string[]
  checked_at: number | null
  message: string
}

/** Where the data is: SQLite in the data folder (the appliance), or PostgreSQL (several nodes). */
export type Engine = 'sqlite' | 'postgresql'

export interface StorageUse {
  engine: Engine
  database_bytes: number
  wal_bytes: number
  data_bytes: number
  disk_total_bytes: number
  disk_free_bytes: number
  data_dir: string
  /** null when counting met a damaged page (integrity says so) */
  counts: Counts | null
  integrity: Integrity
  /** The search index rebuilt after SQLite found it corrupt, since the server started. */
  search_index: { rebuilds: number; last_rebuilt_at: number | null }
}

export interface UsbStatus {
  configured: boolean
  pattern?: string
  folder?: string | null
  unusable?: string[]
  keep?: number
  last_attempt_at?: number | null
  last_success_at?: number | null
  last_file?: string | null
  last_error?: string | null
  next_check_at?: number | null
  backups?: { name: string; size: number; modified_at: number }[]
}

export interface PendingRestore {
  staged_at: number
  created_at: number
  version: string
  counts: Counts
}

export interface BackupStatus {
  engine: Engine
  /** On PostgreSQL: how to back it up instead (this page's backups are SQLite's). */
  on_postgresql?: string
  usb: UsbStatus
  restore_pending: PendingRestore | null
}

export interface RestoreReport {
  backup: {
    version: string
    schema_version: number
    created_at: number
    device_name: string
    org_name: string
    counts: Counts
  }
  includes: { database: boolean; tls: boolean }
  ca_fingerprint: string | null
  size: number
  warnings: string[]
  current: { schema_version: number; counts: Counts; ca_fingerprint: string | null }
  staged: boolean
  restart_required: boolean
}

export interface LogLine {
  time: number
  level: string
  logger: string
  message: string
}

export interface VersionInfo {
  version: string
  schema_version: number
  newest_schema_version: number
  python: string
  engine: Engine
  engine_version: string
  started_at: number
  uptime_s: number
}

/** Where the browser downloads a backup from (a plain link: the file is streamed). */
export const BACKUP_URL = '/api/admin/backup'

export const adminApi = {
  users: () => http.get<{ users: AdminUser[] }>('/api/admin/users'),
  createUser: (fields: { username: string; password: string; display_name?: string; admin?: boolean }) =>
    http.post<{ user: User }>('/api/admin/users', fields),
  updateUser: (id: UserId, changes: { deactivated?: boolean; admin?: boolean }) =>
    http.patch<{ user: User }>(`/api/admin/users/${id}`, changes),
  resetLink: (id: UserId) => http.post<{ url: string; expires_at: number }>(`/api/admin/users/${id}/reset`),

  invites: () => http.get<{ invites: Invite[] }>('/api/admin/invites'),
  createInvite: (uses: number, expiresInS: number | null) =>
    http.post<{ code: string; url: string }>('/api/admin/invites', { uses, expires_in_s: expiresInS }),
  revokeInvite: (id: number) => http.delete(`/api/admin/invites/${id}`),

  settings: () => http.get<OrgSettings>('/api/admin/settings'),
  updateSettings: (changes: { org_name?: string; registration?: Registration }) =>
    http.patch<OrgSettings>('/api/admin/settings', changes),

  device: () => http.get<DeviceInfo>('/api/admin/device'),
  reportClock: (nowMs: number) => http.post<ClockReport>('/api/admin/clock', { now_ms: nowMs }),
  renameDevice: (name: string) =>
    http.patch<DeviceInfo & { hostname: HostnameStatus }>('/api/admin/device', { name }),
  power: (action: PowerAction) =>
    http.post<{ action: PowerAction; accepted: boolean }>(`/api/admin/device/${action}`),
  setWifi: (wifi: WifiSettings) =>
    http.put<{ country: string; ssid: string; applied: boolean }>('/api/admin/device/wifi', wifi),
  installCertificate: (certificate: Blob, key: Blob, names: string) => {
    const form = new FormData()
    form.append('certificate', certificate, 'certificate.pem')
    form.append('key', key, 'key.pem')
    if (names.trim()) form.append('names', names.trim())
    return http.upload<{ certificate: Certificate }>('POST', '/api/admin/device/certificate', form)
  },
  removeCertificate: () =>
    http.delete<{ removed: boolean; certificate: Certificate }>('/api/admin/device/certificate'),
  regenerateCa: () => http.post<{ certificate: Certificate }>('/api/admin/device/ca', { confirm: true }),

  storage: () => http.get<StorageUse>('/api/admin/storage'),
  logs: (limit = 500) => http.get<{ lines: LogLine[] }>('/api/admin/logs', { limit }),
  version: () => http.get<VersionInfo>('/api/admin/version'),

  backupStatus: () => http.get<BackupStatus>('/api/admin/backup/status'),
  usbBackupNow: () => http.post<UsbStatus>('/api/admin/backup/usb'),
  restore: (file: Blob, dryRun: boolean, signal?: AbortSignal) => {
    const form = new FormData()
    form.append('backup', file, 'backup.tar.gz')
    return http.upload<RestoreReport>('POST', '/api/admin/restore', form, {
      query: { dry_run: dryRun ? 1 : null },
      ...(signal ? { signal } : {}),
    })
  },
  cancelRestore: () => http.delete('/api/admin/restore'),
}

export const resetApi = {
  reset: (token: string, password: string) => http.post<void>('/api/auth/reset', { token, password }),
}
