// Which messages a person has actually seen: rows (elements with data-message-id inside
// `root`) at least half on screen, or filling half of it, while the tab is visible. Read
// markers move only over these, never past them.
import { onBeforeUnmount, onMounted, type Ref } from 'vue'
import type { MessageId } from '@/api/types'

export interface SeenOptions {
  /** The scrolling element whose rows are watched. */
  root: Ref<HTMLElement | null>
  /** Told the newest message seen (often, and repeatedly: the caller skips what it had). */
  onSeen: (newest: MessageId) => void
  /** False while seeing must not count (e.g. just after "Mark as unread"). */
  enabled?: () => boolean
}

const THRESHOLDS = [0, 0.25, 0.5, 0.75, 1]

export function useSeenMessages(options: SeenOptions) {
  const onScreen = new Set<MessageId>()
  const watched = new WeakSet<Element>()
  let intersections: IntersectionObserver | null = null
  let mutations: MutationObserver | null = null

  function report(): void {
    if (document.visibilityState !== 'visible' || options.enabled?.() === false) return
    let newest = 0
    for (const id of onScreen) if (id > newest) newest = id
    if (newest > 0) options.onSeen(newest)
  }

  function onEntries(entries: IntersectionObserverEntry[]): void {
    for (const entry of entries) {
      const id = Number((entry.target as HTMLElement).dataset.messageId)
      if (!Number.isInteger(id)) continue
      const rootHeight = entry.rootBounds?.height ?? Infinity
      const seen =
        entry.isIntersecting &&
        (entry.intersectionRatio >= 0.5 || entry.intersectionRect.height >= rootHeight / 2)
      if (seen) onScreen.add(id)
      else onScreen.delete(id)
    }
    report()
  }

  /** Watch every row in the DOM now (new rows are found by the mutation observer). */
  function watchRows(): void {
    const root = options.root.value
    if (!root || !intersections) return
    for (const row of root.querySelectorAll('[data-message-id]')) {
      if (watched.has(row)) continue
      watched.add(row)
      intersections.observe(row)
    }
  }

  function onVisibility(): void {
    if (document.visibilityState === 'visible') report()
  }

  onMounted(() => {
    const root = options.root.value
    if (!root || typeof IntersectionObserver === 'undefined') return
    intersections = new IntersectionObserver(onEntries, { root, threshold: THRESHOLDS })
    mutations = new MutationObserver(watchRows)
    mutations.observe(root, { childList: true, subtree: true })
    watchRows()
    document.addEventListener('visibilitychange', onVisibility)
    window.addEventListener('focus', report)
  })
  onBeforeUnmount(() => {
    intersections?.disconnect()
    mutations?.disconnect()
    document.removeEventListener('visibilitychange', onVisibility)
    window.removeEventListener('focus', report)
  })

  return { report }
}
