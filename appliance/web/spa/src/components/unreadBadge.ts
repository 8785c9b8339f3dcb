/** The server counts a room's unread messages up to 1,000 and says 1000 for "1,000 or
 * more" (docs/api.md, `room.unread`); live messages may add to it. The badge stops at 999+. */
export const BADGE_MAX = 999

export function unreadBadge(count: number): string {
  return count > BADGE_MAX ? `${BADGE_MAX}+` : String(count)
}
