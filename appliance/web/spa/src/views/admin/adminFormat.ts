// How the admin pages show sizes, durations and expiry.

const UNITS = ['B', 'KB', 'MB', 'GB', 'TB']

/** 1234567 → "1.2 MB" (powers of 1000, as disks are sold). */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '—'
  let value = bytes
  let unit = 0
  while (value >= 1000 && unit < UNITS.length - 1) {
    value /= 1000
    unit += 1
  }
  const digits = unit === 0 || value >= 100 ? 0 : 1
  return `${value.toFixed(digits).replace(/\.0$/, '')} ${UNITS[unit]}`
}

/** Seconds as the biggest two units: "3 days 4 h", "2 h 5 min", "40 s". */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds))
  const days = Math.floor(s / 86400)
  const hours = Math.floor((s % 86400) / 3600)
  const minutes = Math.floor((s % 3600) / 60)
  if (days > 0) return `${days} ${days === 1 ? 'day' : 'days'}${hours ? ` ${hours} h` : ''}`
  if (hours > 0) return `${hours} h${minutes ? ` ${minutes} min` : ''}`
  if (minutes > 0) return `${minutes} min`
  return `${s} s`
}

/** The share of `part` in `whole` as a whole percentage, 0 when there is no whole. */
export function percent(part: number, whole: number): number {
  if (!(whole > 0)) return 0
  return Math.min(100, Math.max(0, Math.round((part / whole) * 100)))
}

/** When something runs out: "never", "expired", "in 3 days", "in 5 h". */
export function expiresLabel(at: number | null, now = Date.now()): string {
  if (at === null) return 'never'
  if (at <= now) return 'expired'
  return `in ${formatDuration((at - now) / 1000)}`
}

/** "1 room", "3 rooms". */
export { plural } from '@/composables/plural'
