import { defineStore } from 'pinia'
import { markRaw, ref } from 'vue'
import { authApi } from '@/api/auth'
import { ApiError } from '@/api/http'
import { roomsApi } from '@/api/rooms'
import {
  ChatSocket,
  SocketError,
  socketUrl,
  type SocketOptions,
  type SocketStatus,
} from '@/api/socket'
import type { ChatEvent, Message, MessageId, RoomId, ServerFrame, User } from '@/api/types'
import { usersApi } from '@/api/users'
import { ChatCache, type CachedHistory } from '@/persistence/cache'
import { FeatureChannel, type FeatureFrame } from '@/sync/featureChannel'
import { attachmentIds } from '@/uploads/outboxFiles'
import {
  applyEvent,
  recountUnread,
  setPresence,
  upsertMessage,
  type ChatState,
} from '@/sync/reducer'
import { useMessagesStore } from './messages'
import { useOutboxStore } from './outbox'
import { useRoomsStore } from './rooms'
import { useSessionStore } from './session'
import { useThreadsStore } from './threads'
import { useTypingStore } from './typing'
import { useUsersStore } from './users'

/** Messages per room kept in IndexedDB. */
const CACHED_PER_ROOM = 150
const PERSIST_DELAY_MS = 800
const TYPING_EVERY_MS = 2_000

export type MessageListener = (message: Message, live: boolean) => void

export interface SyncOptions {
  cacheName?: string
  socket?: Partial<SocketOptions>
  location?: Location
}

/**
 * Keeps the stores in step with the server: opens from the cache, says hello with the last
 * seq, applies events (or reloads over REST on resync), persists, and drains the outbox.
 */
export const useSyncStore = defineStore('sync', () => {
  const session = useSessionStore()
  const users = useUsersStore()
  const rooms = useRoomsStore()
  const messages = useMessagesStore()
  const threads = useThreadsStore()
  const outbox = useOutboxStore()
  const typing = useTypingStore()

  const seq = ref<number | null>(null)
  /** Set when the cache could be read: the app can show something without the network. */
  const fromCache = ref(false)
  let socket: ChatSocket | null = null
  let cache: ChatCache | null = null
  let reloading: ChatEvent[] | null = null
  let persistTimer: ReturnType<typeof setTimeout> | null = null
  const lastTyping = new Map<RoomId, number>()
  const listeners = new Set<MessageListener>()
  /** Calls, transfers and the painter talk over the same socket through this. */
  // markRaw: Pinia would wrap it in a reactive proxy, unwrapping its connId ref for its methods.
  const channel = markRaw(new FeatureChannel())

  /** The reducer's view of the stores: it mutates their reactive objects in place. */
  const state: ChatState = {
    get me() {
      return session.userId
    },
    set me(_value) {
      /* owned by the session store */
    },
    get seq() {
      return seq.value
    },
    set seq(value) {
      seq.value = value
    },
    users: users.byId,
    rooms: rooms.byId,
    timelines: messages.timelines,
    threads: threads.threads,
    reads: messages.reads,
  }

  function onMessage(listener: MessageListener): () => void {
    listeners.add(listener)
    return () => listeners.delete(listener)
  }

  async function openCache(name: string): Promise<void> {
    try {
      cache = await ChatCache.open(name)
    } catch {
      cache = null // private mode or no IndexedDB: we still work, just not offline
    }
  }

  /** Fills the stores from IndexedDB when it holds this user's state. */
  async function restoreFromCache(me: User): Promise<void> {
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

  async function start(me: User, options: SyncOptions = {}): Promise<void> {
    if (socket) return
    session.signedIn(me)
    // The socket handshake and IndexedDB open in parallel; hello waits for the cached seq.
    const opened = openCache(options.cacheName ?? 'pychat')
    const ready = (async () => {
      await opened
      await restoreFromCache(me)
      await outbox.restore()
    })()
    outbox.configure({
      storage: {
        outboxEntries: async () => (await opened.then(() => cache))?.outboxEntries() ?? [],
        putOutbox: async (entry) => (await opened.then(() => cache))?.putOutbox(entry),
        deleteOutbox: async (id) => (await opened.then(() => cache))?.deleteOutbox(id),
      },
      send: (entry) =>
        requireSocket()
          .request<{ message: Message }>({
            type: 'message.send',
            room: entry.room,
            body: entry.body,
            client_id: entry.client_id,
            ...(entry.thread !== null ? { thread: entry.thread } : {}),
            ...(entry.files?.length ? { attachments: attachmentIds(entry) } : {}),
          })
          .then((reply) => reply.message)
          .catch((error: unknown) => {
            // No answer in time: the connection is dead even if the browser has not noticed.
            if (error instanceof SocketError && error.code === 'timeout') socket?.restart()
            throw error
          }),
      canSend: () => socket?.isOpen === true,
      onSent: (message) => {
        upsertMessage(state, message)
        schedulePersist()
      },
    })
    const location = options.location ?? window.location
    socket = new ChatSocket({
      url: socketUrl(location),
      onOpen: async () => {
        await ready
        await hello()
      },
      onFrame: receive,
      onStatus: statusChanged,
      onSessionEnded: () => void sessionEnded(),
      ...options.socket,
    })
    const own = socket
    channel.attach({
      send: (frame) => own.send(frame),
      request: (frame, timeoutMs) => own.request(frame, timeoutMs),
    })
    socket.start()
    window.addEventListener('online', reconnectNow)
    window.addEventListener('offline', dropConnection)
    window.addEventListener('pagehide', persistNow)
    document.addEventListener('visibilitychange', persistWhenHidden)
    await ready
  }

  function requireSocket(): ChatSocket {
    if (!socket) throw new Error('not started')
    return socket
  }

  function reconnectNow(): void {
    socket?.reconnectNow()
  }

  function persistWhenHidden(): void {
    if (document.visibilityState === 'hidden') persistNow()
  }

  function statusChanged(status: SocketStatus): void {
    if (status === 'open') {
      session.connection = 'online'
      void outbox.drain()
      return
    }
    session.caughtUp = false
    channel.lost()
    if (status === 'closed') session.connection = 'offline'
    else if (status === 'connecting' && session.connection !== 'offline') {
      session.connection = 'connecting'
    }
  }

  /** Resume: replayed events arrive before the reply and are applied as they come. */
  async function hello(): Promise<void> {
    const since = seq.value
    const reply = await requireSocket().request<{ head: number; resync?: boolean; conn: number }>(
      { type: 'hello', since },
      30_000,
    )
    if (since === null || reply.resync) await reloadAll(reply.head)
    session.caughtUp = true
    schedulePersist()
    channel.ready(reply.conn)
  }

  /** A fresh snapshot over REST; live events that arrive meanwhile are applied after it. */
  async function reloadAll(head: number): Promise<void> {
    reloading = []
    try {
      const [me, userList, roomList] = await Promise.all([
        authApi.me(),
        usersApi.list(),
        roomsApi.list(),
      ])
      session.signedIn(me.user)
      users.replaceAll(userList.users)
      rooms.replaceAll(roomList.rooms)
      // Held history may have a gap now: views reload what they show.
      messages.clear()
      threads.clear()
      seq.value = head
      const buffered: ChatEvent[] = reloading ?? []
      reloading = null
      for (const event of buffered) apply(event, true)
    } finally {
      reloading = null
    }
  }

  function receive(frame: ServerFrame): void {
    switch (frame.type) {
      case 'event':
        if (reloading) reloading.push(frame)
        else apply(frame, session.caughtUp)
        break
      case 'typing':
        if (frame.user !== session.userId) typing.saw(frame.room, frame.user)
        break
      case 'presence':
        setPresence(state, frame.user, frame.online, frame.last_seen)
        break
      case 'presence.batch':
        for (const p of frame.users) setPresence(state, p.user, p.online, p.last_seen)
        break
      default:
        if (frame.type !== 'reply' && frame.type !== 'pong') channel.dispatch(frame as FeatureFrame)
        break
    }
  }

  function apply(event: ChatEvent, live: boolean): void {
    if (!applyEvent(state, event)) return
    if (event.kind === 'message.new') {
      const message = event.data.message
      typing.stopped(message.room, message.author)
      if (message.author === session.userId && message.client_id) {
        void outbox.acknowledge(message.client_id)
      }
      for (const listener of listeners) listener(message, live)
    }
    schedulePersist()
  }

  function schedulePersist(): void {
    if (persistTimer !== null) return
    persistTimer = setTimeout(persistNow, PERSIST_DELAY_MS)
  }

  function persistNow(): void {
    if (persistTimer !== null) clearTimeout(persistTimer)
    persistTimer = null
    const me = session.user
    if (!cache || !me || reloading) return
    const histories: CachedHistory[] = []
    for (const [room, timeline] of Object.entries(messages.timelines)) {
      if (timeline.hasNewer || timeline.messages.length === 0) continue
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
          me,
          seq: seq.value,
          users: Object.values(users.byId),
          rooms: Object.values(rooms.byId),
          savedAt: Date.now(),
        },
        histories,
      )
      .catch(() => undefined)
  }

  // Commands over the socket. Each rejects with a SocketError the caller can show.

  async function editMessage(id: MessageId, body: string): Promise<void> {
    const reply = await requireSocket().request<{ message: Message }>({
      type: 'message.edit',
      message: id,
      body,
    })
    upsertMessage(state, reply.message)
  }

  async function deleteMessage(id: MessageId): Promise<void> {
    const reply = await requireSocket().request<{ message: Message }>({
      type: 'message.delete',
      message: id,
    })
    upsertMessage(state, reply.message)
  }

  async function react(id: MessageId, emoji: string, on: boolean): Promise<void> {
    await requireSocket().request({ type: 'reaction.set', message: id, emoji, on })
  }

  /** Moves our marker forward (at once locally, then on the server). */
  async function markRead(roomId: RoomId, id: MessageId): Promise<void> {
    const room = rooms.byId[roomId]
    if (!room || id <= (room.last_read_message_id ?? 0)) return
    room.last_read_message_id = id
    recountUnread(state, room)
    const me = session.userId
    if (me !== null) {
      const markers = (messages.reads[roomId] ??= {})
      markers[me] = Math.max(markers[me] ?? 0, id)
    }
    schedulePersist()
    if (socket?.isOpen) {
      await socket.request({ type: 'read.mark', room: roomId, message: id }).catch(() => undefined)
    }
  }

  function sendTyping(roomId: RoomId): void {
    const now = Date.now()
    if (now - (lastTyping.get(roomId) ?? 0) < TYPING_EVERY_MS) return
    if (socket?.send({ type: 'typing', room: roomId })) lastTyping.set(roomId, now)
  }

  async function sessionEnded(): Promise<void> {
    await stop({ forget: true })
    session.signedOut()
  }

  async function signOut(): Promise<void> {
    try {
      await authApi.logout()
    } catch (error) {
      if (!(error instanceof ApiError)) throw error
    }
    await stop({ forget: true })
    session.signedOut()
  }

  /** Closes the socket; with forget, wipes this user's data from the browser too. */
  async function stop(options: { forget?: boolean } = {}): Promise<void> {
    socket?.stop()
    socket = null
    channel.attach(null)
    channel.lost()
    window.removeEventListener('online', reconnectNow)
    window.removeEventListener('offline', dropConnection)
    window.removeEventListener('pagehide', persistNow)
    document.removeEventListener('visibilitychange', persistWhenHidden)
    if (persistTimer !== null) clearTimeout(persistTimer)
    persistTimer = null
    if (options.forget) {
      await cache?.clearAll().catch(() => undefined)
      messages.clear()
      threads.clear()
      rooms.replaceAll([])
      users.replaceAll([])
      outbox.reset()
      seq.value = null
      fromCache.value = false
    }
    cache?.close()
    cache = null
  }

  /** For tests and the debug console: drop the connection as the network would. */
  function dropConnection(): void {
    socket?.restart()
  }

  return {
    seq,
    fromCache,
    state,
    channel,
    start,
    stop,
    signOut,
    onMessage,
    receive,
    editMessage,
    deleteMessage,
    react,
    markRead,
    sendTyping,
    persistNow,
    schedulePersist,
    dropConnection,
    reconnectNow,
  }
})
