// The browser's copy of the chat (IndexedDB): read at start so the app opens without the
// network, written a moment after each change, wiped when the person signs out.
import { toRaw, type Ref } from 'vue'
import type { User } from '@/api/types'
import { ChatCache, type CachedHistory, type OutboxStorage } from '@/persistence/cache'
import type { useMessagesStore } from './messages'
import type { useRoomsStore } from './rooms'
import type { useSessionStore } from './session'
import type { useUsersStore } from './users'

/** Messages per room kept in IndexedDB. */
const CACHED_PER_ROOM = 150
const PERSIST_DELAY_MS = 800
/** Longest an idle moment is waited for before saving anyway. */
const PERSIST_IDLE_TIMEOUT_MS = 3_000

export interface SyncCacheDeps {
  session: ReturnType<typeof useSessionStore>
  users: ReturnType<typeof useUsersStore>
  rooms: ReturnType<typeof useRoomsStore>
  messages: ReturnType<typeof useMessagesStore>
  seq: Ref<number | null>
  /** Set when the cache could be read: the app can show something without the network. */
  fromCache: Ref<boolean>
  /** A reload over REST or a counters refresh is under way: the stores are behind their seq,
   * not worth saving (a later change saves them). */
  behind: () => boolean
}

export type SyncCache = ReturnType<typeof createSyncCache>

export function createSyncCache(deps: SyncCacheDeps) {
  const { session, users, rooms, messages, seq, fromCache } = deps
  let cache: ChatCache | null = null
  let opened: Promise<ChatCache | null> = Promise.resolve(null)
  let persistTimer: ReturnType<typeof setTimeout> | null = null
  let persistIdle: number | null = null

  function open(name: string): Promise<ChatCache | null> {
    opened = ChatCache.open(name).then(
      (opening) => (cache = opening),
      () => (cache = null), // private mode or no IndexedDB: we still work, just not offline
    )
    return opened
  }

  /** Fills the stores from IndexedDB when it holds this user's state. */
  async function restore(me: User): Promise<void> {
    if (!cache) return
    try {
      const saved = await cache.load()
      if (!saved) return
      if (saved.snapshot.me.id !== me.id) {
        // Someone else used this browser before: nothing of theirs is shown or sent.
        await cache.clearAll()
        return
      }
      users.replaceAll(saved.snapshot.users)
      rooms.replaceAll(saved.snapshot.rooms)
      for (const [room, id] of Object.entries(saved.snapshot.unsentReads ?? {})) {
        if (rooms.byId[Number(room)]) rooms.readHere(Number(room), id)
      }
      for (const history of saved.histories) {
        if (!rooms.byId[history.room]) continue
        messages.timelines[history.room] = {
          messages: history.messages,
          hasOlder: history.hasOlder,
          hasNewer: false,
        }
      }
      seq.value = saved.snapshot.seq
      fromCache.value = true
    } catch {
      seq.value = null
    }
  }

  /** The cache once opening settled; null when there is none or it was closed since. */
  const ready = async (): Promise<ChatCache | null> => opened.then(() => cache)

  /** Where the outbox keeps its entries: this cache, once it is open. */
  const outboxStorage: OutboxStorage = {
    outboxEntries: async () => (await ready())?.outboxEntries() ?? [],
    putOutbox: async (entry) => (await ready())?.putOutbox(entry),
    deleteOutbox: async (id) => (await ready())?.deleteOutbox(id),
  }

  /** Saves a moment after a change, in an idle moment: a save copies every cached room, and
   * on a phone's first load that competed with the room's first paint. */
  function schedulePersist(): void {
    if (persistTimer !== null || persistIdle !== null) return
    persistTimer = setTimeout(() => {
      persistTimer = null
      if (typeof requestIdleCallback !== 'function') return persistNow()
      persistIdle = requestIdleCallback(persistNow, { timeout: PERSIST_IDLE_TIMEOUT_MS })
    }, PERSIST_DELAY_MS)
  }

  function cancelPersist(): void {
    if (persistTimer !== null) clearTimeout(persistTimer)
    if (persistIdle !== null) cancelIdleCallback(persistIdle)
    persistTimer = null
    persistIdle = null
  }

  function persistNow(): void {
    cancelPersist()
    const me = session.user
    if (!cache || !me || deps.behind()) return
    // The stores' raw objects: copying through Vue's proxies cost a get trap per field.
    const histories: CachedHistory[] = []
    for (const [room, timeline] of Object.entries(toRaw(messages.timelines))) {
      // An early page (boot's, before the catch-up) may be behind: not kept until settled.
      if (timeline.hasNewer || timeline.messages.length === 0 || messages.isEarly(Number(room))) continue
      const recent = timeline.messages.slice(-CACHED_PER_ROOM)
      histories.push({
        room: Number(room),
        messages: recent,
        hasOlder: timeline.hasOlder || recent.length < timeline.messages.length,
      })
    }
    void cache
      .save(
        {
          me: toRaw(me),
          seq: seq.value,
          users: Object.values(toRaw(users.byId)),
          rooms: Object.values(toRaw(rooms.byId)),
          unsentReads: { ...rooms.unsentReads },
          savedAt: Date.now(),
        },
        histories,
      )
      .catch(() => undefined)
  }

  /** This user's data out of the browser (sign-out, session ended). */
  async function clearAll(): Promise<void> {
    await cache?.clearAll().catch(() => undefined)
  }

  function close(): void {
    cache?.close()
    cache = null
  }

  return { open, restore, outboxStorage, schedulePersist, cancelPersist, persistNow, clearAll, close }
}
