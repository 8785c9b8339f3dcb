// Dates and names as people read them.

export function sameDay(a: number, b: number): boolean {
  const x = new Date(a)
  const y = new Date(b)
  return x.getFullYear() === y.getFullYear() && x.getMonth() === y.getMonth() && x.getDate() === y.getDate()
}

export function dayLabel(ms: number, now = Date.now()): string {
  if (sameDay(ms, now)) return 'Today'
  if (sameDay(ms, now - 86_400_000)) return 'Yesterday'
  const thisYear = new Date(ms).getFullYear() === new Date(now).getFullYear()
  return (thisYear ? dayFormat : dayYearFormat)().format(ms)
}

/** One formatter per format, made on first use: building an Intl formatter resolves locale
 * data each time (toLocaleString with options builds one per call), and rows format times
 * by the dozen while a room opens. */
function cached<T>(make: () => T): () => T {
  let made: T | undefined
  return () => (made ??= make())
}

const dayFormat = cached(() => new Intl.DateTimeFormat(undefined, { weekday: 'long', month: 'long', day: 'numeric' }))
const dayYearFormat = cached(
  () => new Intl.DateTimeFormat(undefined, { weekday: 'long', month: 'long', day: 'numeric', year: 'numeric' }),
)
// toLocaleString()'s own default: every date and time field numeric.
const fullFormat = cached(
  () =>
    new Intl.DateTimeFormat(undefined, {
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    }),
)
const collator = cached(() => new Intl.Collator())

/** localeCompare's order (the default collator), through one shared Intl.Collator. */
export function compareText(a: string, b: string): number {
  return collator().compare(a, b)
}

// hour: 'numeric' gives "1:48 AM" in 12-hour locales and the locale's own 24-hour form
// elsewhere; '2-digit' put a zero before every morning hour ("01:48 AM").
const timeFormats = new Map<string, Intl.DateTimeFormat>()

export function timeLabel(ms: number, locale?: string): string {
  let format = timeFormats.get(locale ?? '')
  if (!format) {
    format = new Intl.DateTimeFormat(locale, { hour: 'numeric', minute: '2-digit' })
    timeFormats.set(locale ?? '', format)
  }
  return format.format(ms)
}

export function fullTime(ms: number): string {
  return fullFormat().format(ms)
}

export function lastSeenLabel(ms: number | null | undefined, now = Date.now()): string {
  if (!ms) return 'offline'
  const minutes = Math.round((now - ms) / 60_000)
  if (minutes < 1) return 'last seen just now'
  if (minutes < 60) return `last seen ${minutes} min ago`
  if (minutes < 24 * 60) return `last seen ${Math.round(minutes / 60)} h ago`
  return `last seen ${new Date(ms).toLocaleDateString()}`
}

export function initials(name: string): string {
  const parts = name.trim().split(/\s+/).filter(Boolean)
  const letters = parts.length > 1 ? [parts[0]![0], parts[parts.length - 1]![0]] : [name[0], name[1]]
  return letters.filter(Boolean).join('').toUpperCase()
}

/** A stable hue per user, for avatar backgrounds. */
export function hueFor(id: number): number {
  return (id * 137) % 360
}

export function messageLink(origin: string, room: number, id: number, thread: number | null): string {
  const query = thread === null ? `message=${id}` : `message=${thread}&thread=${thread}`
  return `${origin}/rooms/${room}?${query}`
}

/** "> " before each line, then a blank line, for quoting in the composer. */
export function quoteText(author: string, body: string): string {
  const quoted = body
    .split('\n')
    .map((line) => `> ${line}`)
    .join('\n')
  return `${quoted}\n> — @${author}\n\n`
}
