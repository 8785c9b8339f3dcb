import type { User } from '@/api/types'

/** The browser's time zone, an IANA name (undefined when it cannot tell). */
export function browserTimezone(): string | undefined {
  try {
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone
    return zone && zone !== 'Etc/Unknown' ? zone : undefined
  } catch {
    return undefined
  }
}

/**
 * Tells the server this browser's time zone when the profile holds another (or none), so
 * the people she works with see her local time on her profile card. Best effort: offline,
 * or a name the server's zoneinfo does not know, changes nothing.
 */
export async function reportTimezone(
  me: User | null,
  update: (changes: { timezone: string }) => Promise<unknown>,
): Promise<void> {
  // The first Intl formatter loads locale data (up to 300 ms on a phone): not while the
  // room paints, but once the page is idle (or after 3 s at the latest).
  await idle(3_000)
  const zone = browserTimezone()
  if (!me || !zone || me.timezone === zone) return
  await update({ timezone: zone }).catch(() => undefined)
}

function idle(timeout: number): Promise<void> {
  return new Promise((resolve) => {
    if (typeof requestIdleCallback === 'function') requestIdleCallback(() => resolve(), { timeout })
    else setTimeout(resolve, 0)
  })
}

/** "14:05" in `zone` (undefined when the zone is unknown to this browser). */
export function localTimeIn(zone: string, now = Date.now()): string | undefined {
  try {
    // As timeLabel writes times in the timeline ("9:05 PM" or "21:05").
    return new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit', timeZone: zone }).format(now)
  } catch {
    return undefined
  }
}

/** The place a zone is named after: "Asia/Tokyo" → "Tokyo", "America/North_Dakota/Center" → "Center". */
export function zonePlace(zone: string): string {
  return (zone.split('/').pop() ?? zone).replace(/_/g, ' ')
}
