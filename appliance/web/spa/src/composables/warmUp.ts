// The first use of a locale service (a collator, a date format) loads ICU data, and the first
// message row builds markdown-it: on a phone each cost 30-60 ms inside the task that first
// rendered the sidebar or the room, adding to the blocking time (issue 15). While the app
// waits for the server at start, idle moments pay for them instead, one per task.
import { prepareMarkdown } from './useMarkdown'

const WAIT_AT_MOST_MS = 2_000

function whenIdle(work: () => void): void {
  if (typeof requestIdleCallback === 'function') requestIdleCallback(work, { timeout: WAIT_AT_MOST_MS })
  else setTimeout(work, 0)
}

let started = false

/** Once per page: warms what the first screen will use. */
export function warmUpWhileWaiting(): void {
  if (started) return
  started = true
  // The sidebar sorts rooms and people with localeCompare (the default collator V8 keeps).
  whenIdle(() => void 'a'.localeCompare('b'))
  // Each row's full time (toLocaleString's default format, also kept) and its "14:05".
  whenIdle(() => void new Date(0).toLocaleString())
  whenIdle(() => void new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' }).format(0))
  prepareMarkdown()
}
