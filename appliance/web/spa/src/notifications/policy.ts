// The one rule that decides whether a message notifies a person (issue 16): the twin of the
// server's appliance/notify/policy.py, case for case (policyCases.json is the table both
// test suites run). Pure: no stores, no clock of its own.
import type { Level, NotifySettings } from '@/api/notifications'
import type { RoomId, RoomKind, UserId } from '@/api/types'

export type { Level, NotifySettings, RoomNotify } from '@/api/notifications'
export const LEVELS: readonly Level[] = ['all', 'mentions', 'nothing']
export const MAX_KEYWORDS = 20
export const KEYWORD_CHARS = 40

export function defaultNotifySettings(): NotifySettings {
  return {
    direct_level: 'all',
    group_level: 'mentions',
    keywords: [],
    dnd_start: null,
    dnd_end: null,
    snoozed_until: null,
    hide_text: false,
    rooms: {},
  }
}

/** What the rule needs to know of one message, from one reader's point of view. */
export interface MessageFacts {
  room_id: RoomId
  room_kind: RoomKind
  author_id: UserId
  body: string
  /** By name, or @room / @here where the room allows it. */
  mentions_reader: boolean
}

export interface Moment {
  readerId: UserId
  nowMs: number
  /** Her IANA time zone; UTC when null or unknown. */
  timezone: string | null
}

export function roomLevel(settings: NotifySettings, roomId: RoomId, kind: RoomKind): Level {
  const own = settings.rooms[String(roomId)]
  if (own && own.level !== null) return own.level
  return kind === 'direct' ? settings.direct_level : settings.group_level
}

// Python's \w with re.UNICODE: letters, digits (any script) and the underscore.
const WORD = '[\\p{L}\\p{N}_]'

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&')
}

/** A keyword matches as a whole word, ignoring case ("deploy" in "Deploy now!"). */
export function matchesKeyword(settings: NotifySettings, body: string): boolean {
  return settings.keywords.some((keyword) =>
    new RegExp(`(?<!${WORD})${escapeRegExp(keyword)}(?!${WORD})`, 'iu').test(body),
  )
}

function minutesOf(hhmm: string): number | null {
  const found = /^([01][0-9]|2[0-3]):([0-5][0-9])$/.exec(hhmm)
  return found ? Number(found[1]) * 60 + Number(found[2]) : null
}

function localMinutes(nowMs: number, timezone: string | null): number {
  let parts: Intl.DateTimeFormatPart[]
  try {
    parts = new Intl.DateTimeFormat('en-GB', {
      timeZone: timezone || 'UTC',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    }).formatToParts(nowMs)
  } catch {
    return localMinutes(nowMs, null) // an unknown zone counts as UTC, as on the server
  }
  const part = (type: string) => Number(parts.find((p) => p.type === type)?.value ?? 0)
  return part('hour') * 60 + part('minute')
}

/** Snoozed, or inside the do-not-disturb hours of her time zone (UTC if unknown). */
export function quietNow(settings: NotifySettings, nowMs: number, timezone: string | null): boolean {
  if (settings.snoozed_until !== null && nowMs < settings.snoozed_until) return true
  const start = settings.dnd_start === null ? null : minutesOf(settings.dnd_start)
  const end = settings.dnd_end === null ? null : minutesOf(settings.dnd_end)
  if (start === null || end === null || start === end) return false
  const local = localMinutes(nowMs, timezone)
  if (start < end) return start <= local && local < end
  return local >= start || local < end // the quiet hours span midnight
}

export function mutedNow(settings: NotifySettings, roomId: RoomId, nowMs: number): boolean {
  const until = settings.rooms[String(roomId)]?.muted_until ?? null
  return until !== null && nowMs < until
}

/** Whether this message notifies this reader now (being unread is the caller's check). */
export function shouldNotify(settings: NotifySettings, message: MessageFacts, at: Moment): boolean {
  if (message.author_id === at.readerId) return false
  if (mutedNow(settings, message.room_id, at.nowMs)) return false
  if (quietNow(settings, at.nowMs, at.timezone)) return false
  const level = roomLevel(settings, message.room_id, message.room_kind)
  if (level === 'nothing') return false
  if (level === 'all') return true
  return message.mentions_reader || matchesKeyword(settings, message.body)
}
