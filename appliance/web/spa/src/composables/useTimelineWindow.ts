// A windowed timeline: only a slice of the loaded messages is in the DOM (at most
// MAX_WINDOW), moved as you scroll, with the scroll position anchored on a visible message
// so nothing jumps. Older pages load when the slice reaches the top of what is loaded.
// The caller renders messages[startIndex, endIndex) with data-message-id on each row.
import { computed, nextTick, onBeforeUnmount, onMounted, ref, watch, type Ref } from 'vue'
import type { Message, MessageId } from '@/api/types'
import { lowerBound, type Timeline } from '@/sync/timeline'

export const INITIAL_WINDOW = 80
export const STEP = 50
export const MAX_WINDOW = 240
/** Closer than this to either edge of the slice, the slice moves. */
export const EDGE_PX = 600
/** Rows added above per task while the window grows up: each row parses its Markdown, and
 * 50 in one task blocked a phone for most of a second right after a room opened. */
export const GROW_SLICE = 3

export interface TimelineWindowOptions {
  /** The scrolling element and the one holding the rows (watched for height changes). */
  scroller: Ref<HTMLElement | null>
  content: Ref<HTMLElement | null>
  /** The room's loaded history; undefined while it loads. */
  timeline: () => Timeline | undefined
  loadOlder: () => Promise<unknown>
  loadNewer: () => Promise<unknown>
  /** Replaces a history opened in context with the newest page. */
  loadLatest: () => Promise<unknown>
  /** A linked message is on show: the first page must not scroll away from it. */
  pinned: () => boolean
  /** After a scroll or a new message that may have brought the newest into view. */
  onSettled: () => void
}

export function distanceFromBottom(el: HTMLElement): number {
  return el.scrollHeight - el.scrollTop - el.clientHeight
}

/** The first of `rows` (in document order, so top to bottom) whose bottom is below `top`,
 * by binary search: scrolled down a 240-row window the visible rows are near its end, and
 * reading every box from the first was ~0.7 s of a scroll through 10,000 messages. */
export function firstBelow(rows: ArrayLike<HTMLElement>, top: number): HTMLElement | null {
  let lo = 0
  let hi = rows.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if ((rows[mid] as HTMLElement).getBoundingClientRect().bottom > top) hi = mid
    else lo = mid + 1
  }
  return rows[lo] ?? null
}

/** The next animation frame (a hidden tab gets none: a timer stands in). */
export function nextFrame(): Promise<void> {
  return new Promise((done) => {
    const timer = setTimeout(done, 50)
    requestAnimationFrame(() => {
      clearTimeout(timer)
      done()
    })
  })
}

/** Runs a change to the DOM while keeping the first visible message where it is on screen. */
export async function keepAnchor(el: HTMLElement | null, change: () => void | Promise<void>): Promise<void> {
  if (!el) return change()
  const top = el.getBoundingClientRect().top
  const anchor = firstBelow(el.querySelectorAll<HTMLElement>('[data-message-id]'), top)
  const id = anchor?.dataset.messageId
  const before = anchor?.getBoundingClientRect().top ?? 0
  await change()
  await nextTick()
  if (!id) return
  const after = el.querySelector<HTMLElement>(`[data-message-id="${id}"]`)
  if (after) el.scrollTop += after.getBoundingClientRect().top - before
}

export function useTimelineWindow(options: TimelineWindowOptions) {
  const { scroller, content } = options
  const timeline = computed(options.timeline)
  const all = computed<Message[]>(() => timeline.value?.messages ?? [])
  /** First message of the window; null: the last INITIAL_WINDOW. */
  const startId = ref<MessageId | null>(null)
  /** Last message of the window; null: follow the newest. */
  const endId = ref<MessageId | null>(null)
  const atBottom = ref(true)
  /** Messages that arrived while scrolled up. */
  const unseenBelow = ref(0)

  const endIndex = computed(() => {
    if (endId.value === null) return all.value.length
    return Math.min(all.value.length, lowerBound(all.value, endId.value) + 1)
  })
  const startIndex = computed(() => {
    if (startId.value === null) return Math.max(0, endIndex.value - INITIAL_WINDOW)
    return Math.min(lowerBound(all.value, startId.value), endIndex.value)
  })
  /** The window ends with the room's newest message and moves with it. */
  const following = computed(() => endId.value === null && !timeline.value?.hasNewer)

  const idAt = (index: number): MessageId => (all.value[index] as Message).id

  let growing = false

  async function growUp(): Promise<void> {
    if (growing) return
    growing = true
    try {
      if (startIndex.value > 0) {
        await addAbove(idAt(Math.max(0, startIndex.value - STEP)))
      } else if (timeline.value?.hasOlder) {
        const first = all.value[0]
        // The window starts at its first row before the page is asked for, so the page stays
        // out of it until the next step (which adds it a slice at a time, the view held still)
        // and nothing on screen changes when it comes. Holding the anchor across the request
        // let the browser paint what changed meanwhile before the view was put back.
        if (first) startId.value = first.id
        await options.loadOlder()
        // Nothing came (another page of the room was on its way, so the store declined):
        // the retry waits a frame. Retrying at once was an endless chain of microtasks that
        // starved the very response it waited for, and the tab hung growing its memory.
        if (all.value[0] === first) await nextFrame()
        if (scroller.value?.isConnected && scroller.value.scrollTop < EDGE_PX) {
          growing = false
          await growUp()
        }
      }
    } finally {
      growing = false
    }
  }

  /** Moves the window's start up to `target`, GROW_SLICE rows per task, the view held still. */
  async function addAbove(target: MessageId): Promise<void> {
    for (;;) {
      const goal = lowerBound(all.value, target)
      if (startIndex.value <= goal) return
      const start = Math.max(goal, startIndex.value - GROW_SLICE)
      const id = idAt(start)
      await keepAnchor(scroller.value, () => {
        startId.value = id
        if (endIndex.value - start > MAX_WINDOW) endId.value = idAt(start + MAX_WINDOW - 1)
      })
      // Done: no wait after the last slice, so the growth ends in the turn its rows appear
      // (a growUp asked for right then is not refused as already running).
      if (start <= goal) return
      await new Promise((done) => setTimeout(done, 0))
      // Unmounted, or moved meanwhile (a jump to the newest, a linked message): done here.
      if (!scroller.value?.isConnected || startId.value !== id) return
    }
  }

  async function growDown(): Promise<void> {
    if (growing) return
    growing = true
    try {
      if (endId.value !== null) {
        await keepAnchor(scroller.value, () => {
          const end = Math.min(all.value.length, endIndex.value + STEP)
          const start = startIndex.value
          endId.value = end >= all.value.length ? null : idAt(end - 1)
          if (end - start > MAX_WINDOW) startId.value = idAt(end - MAX_WINDOW)
        })
      } else if (timeline.value?.hasNewer) {
        await keepAnchor(scroller.value, async () => {
          await options.loadNewer()
        })
      }
    } finally {
      growing = false
    }
  }

  let frame = 0
  /** The scroll listener: at most one look per frame. */
  function onScroll(): void {
    if (frame) return
    frame = requestAnimationFrame(() => {
      frame = 0
      const el = scroller.value
      if (!el) return
      const fromBottom = distanceFromBottom(el)
      atBottom.value = fromBottom < 64 && following.value
      if (atBottom.value) unseenBelow.value = 0
      if (el.scrollTop < EDGE_PX) void growUp()
      else if (fromBottom < EDGE_PX && !following.value) void growDown()
      options.onSettled()
    })
  }

  function scrollToBottom(): void {
    const el = scroller.value
    if (el) el.scrollTop = el.scrollHeight
    atBottom.value = true
    unseenBelow.value = 0
  }

  /** Trim the top of the window while following the bottom, so it never grows without end. */
  function trimWhileFollowing(): void {
    const size = endIndex.value - startIndex.value
    if (following.value && atBottom.value && size > MAX_WINDOW) {
      startId.value = idAt(all.value.length - INITIAL_WINDOW)
    }
  }

  async function jumpToLatest(): Promise<void> {
    if (timeline.value?.hasNewer) await options.loadLatest()
    startId.value = null
    endId.value = null
    await nextTick()
    scrollToBottom()
    options.onSettled()
  }

  /** Put one message in the middle of the window and (by default) of the screen. */
  async function reveal(id: MessageId, block: ScrollLogicalPosition = 'center'): Promise<void> {
    const at = lowerBound(all.value, id)
    if (all.value[at]?.id !== id) return
    const start = Math.max(0, at - INITIAL_WINDOW / 2)
    const end = Math.min(all.value.length, at + INITIAL_WINDOW / 2)
    startId.value = idAt(start)
    endId.value = end >= all.value.length && !timeline.value?.hasNewer ? null : idAt(end - 1)
    await nextTick()
    const node = scroller.value?.querySelector<HTMLElement>(`[data-message-id="${id}"]`)
    node?.scrollIntoView({ block })
    if (block === 'center') node?.focus({ preventScroll: true })
    atBottom.value = false
  }

  // Keeping up with new messages: follow them at the bottom, count them when scrolled up.
  watch(
    () => all.value[all.value.length - 1]?.id,
    async (newest, previous) => {
      if (newest === undefined) return
      const el = scroller.value
      const wasAtBottom = atBottom.value || !el || distanceFromBottom(el) < 48
      if (!following.value) return
      if (previous === undefined || wasAtBottom) {
        trimWhileFollowing()
        await nextTick()
        if (!options.pinned() || previous !== undefined) scrollToBottom()
        options.onSettled()
      } else if (newest > previous) {
        unseenBelow.value += 1
      }
    },
  )

  // Rows settle their height after the first paint (content-visibility, code highlighting):
  // while we sit at the bottom, stay there.
  let resizeObserver: ResizeObserver | null = null
  onMounted(() => {
    if (typeof ResizeObserver === 'undefined' || !content.value) return
    resizeObserver = new ResizeObserver(() => {
      const el = scroller.value
      if (el && atBottom.value && following.value) el.scrollTop = el.scrollHeight
    })
    resizeObserver.observe(content.value)
  })
  onBeforeUnmount(() => {
    resizeObserver?.disconnect()
    if (frame) cancelAnimationFrame(frame)
  })

  return {
    all,
    startIndex,
    endIndex,
    following,
    atBottom,
    unseenBelow,
    onScroll,
    growUp,
    growDown,
    scrollToBottom,
    jumpToLatest,
    reveal,
  }
}
