// Moments the notification settings offer: "until tomorrow", "for a week", and how an end is
// shown. The server bounds every mute and snooze to a year (policy.ts: MAX_AHEAD).
import type { Until } from '@/api/notifications'

export const HOUR_MS = 3_600_000

/** The next 8:00 in this browser's time zone, at least an hour away: "until tomorrow". */
export function tomorrowMorning(now: number = Date.now()): number {
  const at = new Date(now)
  at.setHours(8, 0, 0, 0)
  if (at.getTime() <= now + HOUR_MS) at.setDate(at.getDate() + 1)
  return at.getTime()
}

export interface MuteChoice {
  value: string
  label: string
  until: (now: number) => Until
}

export const MUTE_CHOICES: readonly MuteChoice[] = [
  { value: '1h', label: 'For 1 hour', until: () => ({ minutes: 60 }) },
  { value: '8h', label: 'For 8 hours', until: () => ({ minutes: 8 * 60 }) },
  { value: 'tomorrow', label: 'Until tomorrow', until: (now) => ({ until: tomorrowMorning(now) }) },
  { value: 'week', label: 'For a week', until: () => ({ minutes: 7 * 24 * 60 }) },
]

/** "15:04" today, "Tue 08:00" within a week, else the date. */
export function untilLabel(ms: number, now: number = Date.now()): string {
  const at = new Date(ms)
  const time = at.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' })
  if (new Date(now).toDateString() === at.toDateString()) return time
  if (ms - now < 6 * 24 * HOUR_MS) return `${at.toLocaleDateString(undefined, { weekday: 'short' })} ${time}`
  return `${at.toLocaleDateString()} ${time}`
}
