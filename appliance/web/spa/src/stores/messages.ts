import { defineStore } from 'pinia'
import { reactive, toRaw } from 'vue'
import { messagesApi } from '@/api/messages'
import { roomsApi } from '@/api/rooms'
import type { Message, MessageId, RoomId, UserId } from '@/api/types'
import { NEWEST_PAGE } from '@/boot/bootFetches'
import {
  mergeNewerPage,
  mergeNewestPage,
  mergeOlderPage,
  settleNewestPage,
  type Timeline,
} from '@/sync/timeline'

const PAGE = NEWEST_PAGE
const CONTEXT = 25
const OLDER_PAGE = 100

/** Per room: the loaded timeline and who read how far. */
export const useMessagesStore = defineStore('messages', () => {
  const timelines = reactive<Record<RoomId, Timeline>>({})
  const reads = reactive<Record<RoomId, Record<UserId, MessageId>>>({})
  const loading = reactive<Record<RoomId, 'newest' | 'older' | 'newer' | 'context' | undefined>>({})

  /** Timelines shown from the page asked for at boot, before the socket caught us up: the
   * ids that page held. Their next newest page settles them (settleNewestPage). */
  const early = new WeakMap<Timeline, Set<MessageId>>()

  /** The page asked for at boot, shown while we are not caught up yet. */
  function showEarly(room: RoomId, page: readonly Message[], hasMore: boolean): void {
    const timeline: Timeline = { messages: [...page], hasOlder: hasMore, hasNewer: false }
    early.set(timeline, new Set(page.map((message) => message.id)))
    timelines[room] = timeline
  }

  function isEarly(room: RoomId): boolean {
    const timeline = timelines[room]
    return timeline !== undefined && early.has(toRaw(timeline))
  }

  /** Bumped by clear(): a page asked for before it is dropped when it comes (it may predate
   * a gap), and its room is free to load again at once. Before, a load cut off by the
   * hello's reload kept `loading` set while its timeline was gone, and the room's next
   * load returned at that flag: the room stayed at "Loading…" (test_p2p_files, under load). */
  let generation = 0

  /** Marks a load of the room as running; the returned check says whether its answer is
   * still wanted (no clear() since), and done() lets the room load again. */
  function begin(room: RoomId, kind: NonNullable<(typeof loading)[RoomId]>) {
    const mine = generation
    loading[room] = kind
    return {
      current: () => generation === mine,
      done: () => {
        if (generation === mine) loading[room] = undefined
      },
    }
  }

  /** The newest page; live events fill the placeholder while it is on its way. */
  async function loadNewest(room: RoomId): Promise<void> {
    if (loading[room]) return
    if (!timelines[room]) timelines[room] = { messages: [], hasOlder: true, hasNewer: false }
    const load = begin(room, 'newest')
    try {
      const page = await messagesApi.page(room, { limit: PAGE })
      const current = timelines[room]
      if (!current || !load.current()) return // we left the room, or a reload dropped it
      const earlyIds = early.get(toRaw(current))
      if (earlyIds) {
        early.delete(toRaw(current))
        settleNewestPage(current, earlyIds, page.messages, page.has_more)
        return
      }
      const merged = mergeNewestPage(current, page.messages, page.has_more)
      if (current !== merged) timelines[room] = merged
    } finally {
      load.done()
    }
  }

  async function loadOlder(room: RoomId): Promise<number> {
    const timeline = timelines[room]
    const first = timeline?.messages[0]
    if (!timeline || !timeline.hasOlder || loading[room]) return 0
    const load = begin(room, 'older')
    try {
      const page = await messagesApi.page(room, first ? { before: first.id, limit: OLDER_PAGE } : { limit: PAGE })
      const current = timelines[room]
      if (!current || !load.current()) return 0
      mergeOlderPage(current, page.messages, page.has_more)
      return page.messages.length
    } finally {
      load.done()
    }
  }

  async function loadNewer(room: RoomId): Promise<void> {
    const timeline = timelines[room]
    const last = timeline?.messages[timeline.messages.length - 1]
    if (!timeline || !timeline.hasNewer || !last || loading[room]) return
    const load = begin(room, 'newer')
    try {
      const page = await messagesApi.page(room, { after: last.id, limit: 200 })
      const current = timelines[room]
      if (current && load.current()) mergeNewerPage(current, page.messages, page.has_more)
    } finally {
      load.done()
    }
  }

  /** A window around one message (a search result or a link), replacing the timeline. */
  async function openAt(room: RoomId, message: MessageId): Promise<void> {
    const load = begin(room, 'context')
    try {
      const [before, after] = await Promise.all([
        messagesApi.page(room, { before: message + 1, limit: CONTEXT }),
        messagesApi.page(room, { after: message, limit: CONTEXT }),
      ])
      if (!load.current()) return
      timelines[room] = {
        messages: [...before.messages, ...after.messages],
        hasOlder: before.has_more,
        hasNewer: after.has_more,
      }
    } finally {
      load.done()
    }
  }

  /** Forget a context window and go back to the newest page. */
  async function jumpToLatest(room: RoomId): Promise<void> {
    if (timelines[room]?.hasNewer) delete timelines[room]
    await loadNewest(room)
  }

  async function loadReads(room: RoomId): Promise<void> {
    const { reads: markers } = await roomsApi.reads(room)
    const held = (reads[room] ??= {})
    for (const [user, id] of Object.entries(markers)) {
      const userId = Number(user)
      held[userId] = Math.max(held[userId] ?? 0, id)
    }
  }

  /** Forgets the timelines; with keepEarly, those shown from the boot page stay (their next
   * newest page settles them, so the first screen is not drawn twice). */
  function clear({ keepEarly = false } = {}): void {
    generation += 1
    for (const id of Object.keys(loading)) loading[Number(id)] = undefined
    for (const id of Object.keys(timelines)) {
      if (!(keepEarly && isEarly(Number(id)))) delete timelines[Number(id)]
    }
    for (const id of Object.keys(reads)) delete reads[Number(id)]
  }

  return {
    timelines,
    reads,
    loading,
    loadNewest,
    loadOlder,
    loadNewer,
    openAt,
    jumpToLatest,
    loadReads,
    showEarly,
    isEarly,
    clear,
  }
})
