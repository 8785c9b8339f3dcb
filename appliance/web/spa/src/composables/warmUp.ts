// The first use of a locale service (a collator, a date format) loads ICU data, and the first
// message row builds markdown-it: on a phone each cost 30-60 ms inside the task that first
// rendered the sidebar or the room, adding to the blocking time (issue 15). While the app
// waits for the server at start, idle moments pay for them instead, one per task.
import { compareText, fullTime, timeLabel } from './format'
import { prepareMarkdownSoon } from './markdownLoader'

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
  // The sidebar sorts rooms and people (format.ts's one collator); each row has its full
  // time and its "14:05" (format.ts keeps each formatter).
  whenIdle(() => void compareText('a', 'b'))
  whenIdle(() => void fullTime(0))
  whenIdle(() => void timeLabel(0))
  prepareMarkdownSoon() // its chunk (preloaded by index.html) runs now, while the server answers
}
