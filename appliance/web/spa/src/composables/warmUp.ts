// The first use of a locale service (a collator, a date format) loads ICU data, and the first
// message row builds markdown-it: on a phone each cost 30-60 ms inside the task that first
// rendered the sidebar or the room, adding to the blocking time (issue 15). Started as the
// app asks who is signed in, each is paid in a short task of its own instead, before the
// answers are drawn (an idle callback came too late: with the answers preloaded there is
// no idle moment before the first render).
import { inTasks } from '@/boot/nextTask'
import { compareText, fullTime, timeLabel } from './format'
import { prepareMarkdownSoon } from './markdownLoader'

let started = false

/** Once per page: warms what the first screen will use. */
export function warmUpWhileWaiting(): void {
  if (started) return
  started = true
  // The sidebar sorts rooms and people (format.ts's one collator); each row has its full
  // time and its "14:05" (format.ts keeps each formatter).
  void inTasks([() => compareText('a', 'b'), () => fullTime(0), () => timeLabel(0)])
  void prepareMarkdownSoon() // its chunk (preloaded by index.html) runs now, while the server answers
}
