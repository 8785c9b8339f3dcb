import { defineStore } from 'pinia'
import { reactive } from 'vue'
import { messagesApi } from '@/api/messages'
import { roomsApi } from '@/api/rooms'
import type { MessageId, RoomId, UserId } from '@/api/types'
import {
  mergeNewerPage,
  mergeNewestPage,
  mergeOlderPage,
  type Timeline,
} from '@/sync/timeline'

const PAGE = 50
const CONTEXT = 25
const OLDER_PAGE = 100

/** Per room: the loaded timeline and who read how far. */
export const useMessagesStore = defineStore('messages', () => {
  const timelines = reactive<Record<RoomId, Timeline>>({})
  const reads = reactive<Record<RoomId, Record<UserId, MessageId>>>({})
  const loading = reactive<Record<RoomId, 'newest' | 'older' | 'newer' | 'context' | undefined>>({})

  /** The newest page; live events fill the placeholder while it is on its way. */
  async function loadNewest(room: RoomId): Promise<void> {
    if (loading[room]) return
    if (!timelines[room]) timelines[room] = { messages: [], hasOlder: true, hasNewer: false }
    loading[room] = 'newest'
    try {
      const page = await messagesApi.page(room, { limit: PAGE })
      const current = timelines[room]
      if (!current) return // we left the room meanwhile
      const merged = mergeNewestPage(current, page.messages, page.has_more)
      if (current !== merged) timelines[room] = merged
    } finally {
      loading[room] = undefined
    }
  }

  async function loadOlder(room: RoomId): Promise<number> {
    const timeline = timelines[room]
    const first = timeline?.messages[0]
    if (!timeline || !timeline.hasOlder || loading[room]) return 0
    loading[room] = 'older'
    try {
      const page = await messagesApi.page(room, first ? { before: first.id, limit: OLDER_PAGE } : { limit: PAGE })
      const current = timelines[room]
      if (current) mergeOlderPage(current, page.messages, page.has_more)
      return page.messages.length
    } finally {
      loading[room] = undefined
    }
  }

  async function loadNewer(room: RoomId): Promise<void> {
    const timeline = timelines[room]
    const last = timeline?.messages[timeline.messages.length - 1]
    if (!timeline || !timeline.hasNewer || !last || loading[room]) return
    loading[room] = 'newer'
    try {
      const page = await messagesApi.page(room, { after: last.id, limit: 200 })
      const current = timelines[room]
      if (current) mergeNewerPage(current, page.messages, page.has_more)
    } finally {
      loading[room] = undefined
    }
  }

  /** A window around one message (a search result or a link), replacing the timeline. */
  async function openAt(room: RoomId, message: MessageId): Promise<void> {
    loading[room] = 'context'
    try {
      const [before, after] = await Promise.all([
        messagesApi.page(room, { before: message + 1, limit: CONTEXT }),
        messagesApi.page(room, { after: message, limit: CONTEXT }),
      ])
      timelines[room] = {
        messages: [...before.messages, ...after.messages],
        hasOlder: before.has_more,
        hasNewer: after.has_more,
      }
    } finally {
      loading[room] = undefined
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

  function clear(): void {
    for (const id of Object.keys(timelines)) delete timelines[Number(id)]
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
    clear,
  }
})
