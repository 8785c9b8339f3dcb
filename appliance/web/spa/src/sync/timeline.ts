// Ordered message lists: insertion by id, page merging. Pure functions over plain arrays.
import type { Message, MessageId } from '@/api/types'

export interface Timeline {
  /** Oldest first, ascending ids, no duplicates. */
  messages: Message[]
  /** The server has messages older than messages[0]. */
  hasOlder: boolean
  /** The list stops before the room's newest message (opened in context). */
  hasNewer: boolean
}

export function emptyTimeline(): Timeline {
  return { messages: [], hasOlder: true, hasNewer: false }
}

/** Index of the first message whose id is >= id. */
export function lowerBound(messages: readonly Message[], id: MessageId): number {
  let lo = 0
  let hi = messages.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if ((messages[mid] as Message).id < id) lo = mid + 1
    else hi = mid
  }
  return lo
}

export function findMessage(messages: readonly Message[], id: MessageId): Message | undefined {
  const at = lowerBound(messages, id)
  const found = messages[at]
  return found && found.id === id ? found : undefined
}

/** Inserts or replaces by id, keeping the order. Returns true when it was new. */
export function upsertSorted(messages: Message[], message: Message): boolean {
  const last = messages[messages.length - 1]
  if (!last || last.id < message.id) {
    messages.push(message)
    return true
  }
  const at = lowerBound(messages, message.id)
  if (messages[at]?.id === message.id) {
    messages[at] = message
    return false
  }
  messages.splice(at, 0, message)
  return true
}

export function mergeSorted(messages: Message[], incoming: readonly Message[]): void {
  // An older page (ascending, all before what we hold) goes in with one splice: inserting
  // it a message at a time shifted the whole reactive array per message (a room scrolled
  // back to 10,000 messages fell to ~20 fps while pages loaded).
  const firstHeld = messages[0]?.id ?? Infinity
  let older = 0
  while (
    older < incoming.length &&
    incoming[older]!.id < firstHeld &&
    (older === 0 || incoming[older - 1]!.id < incoming[older]!.id)
  ) {
    older++
  }
  if (older > 0) messages.splice(0, 0, ...incoming.slice(0, older))
  for (let i = older; i < incoming.length; i++) upsertSorted(messages, incoming[i]!)
}

/**
 * The newest page from the server, merged into what we hold: a placeholder that live events
 * filled while the page was on its way, or history from the cache. Mutates and returns the
 * timeline when they overlap; a new one when there is a gap between them.
 */
export function mergeNewestPage(
  current: Timeline | undefined,
  page: readonly Message[],
  hasMore: boolean,
): Timeline {
  if (!current || current.hasNewer) return { messages: [...page], hasOlder: hasMore, hasNewer: false }
  const held = current.messages
  const oldestOfPage = page[0]
  const newestHeld = held[held.length - 1]
  if (oldestOfPage && newestHeld && oldestOfPage.id > newestHeld.id) {
    return { messages: [...page], hasOlder: hasMore, hasNewer: false }
  }
  const oldestHeld = held[0]
  if (!oldestHeld || !oldestOfPage || oldestOfPage.id <= oldestHeld.id) current.hasOlder = hasMore
  mergeSorted(held, page)
  return current
}

/** An older page (before=first id) goes in front. */
export function mergeOlderPage(current: Timeline, page: readonly Message[], hasMore: boolean): void {
  mergeSorted(current.messages, page)
  current.hasOlder = hasMore
}

/** A newer page (after=last id) goes behind; when none is left we are at the latest. */
export function mergeNewerPage(current: Timeline, page: readonly Message[], hasMore: boolean): void {
  mergeSorted(current.messages, page)
  current.hasNewer = hasMore
}

/**
 * The newest page, over a timeline shown before we were caught up (from the requests made at
 * boot): the page is the truth up to its newest message; messages live events added after
 * it stay, those of the early page that the server no longer has go. Messages that did not
 * change keep their objects, so their rows are not drawn again. Mutates the timeline.
 */
export function settleNewestPage(
  current: Timeline,
  early: ReadonlySet<MessageId>,
  page: readonly Message[],
  hasMore: boolean,
): void {
  const held = new Map(current.messages.map((message) => [message.id, message]))
  const newestOfPage = page[page.length - 1]?.id ?? 0
  const settled = page.map((message) => {
    const kept = held.get(message.id)
    return kept && JSON.stringify(kept) === JSON.stringify(message) ? kept : message
  })
  for (const message of current.messages) {
    if (message.id > newestOfPage && !early.has(message.id)) settled.push(message)
  }
  current.messages.splice(0, current.messages.length, ...settled)
  current.hasOlder = hasMore
  current.hasNewer = false
}
