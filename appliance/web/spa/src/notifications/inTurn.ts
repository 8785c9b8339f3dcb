// Notifications shown and closed one call at a time. Chromium carries out showNotification
// calls made together in any order: two messages of a room arriving together could leave
// the older one on screen, and a close could overtake the show it was meant to follow.
let last: Promise<unknown> = Promise.resolve()

/** Runs `change` after every change asked before it has settled. */
export function inTurn<T>(change: () => Promise<T>): Promise<T> {
  const next = last.then(change, change)
  last = next.catch(() => undefined)
  return next
}
