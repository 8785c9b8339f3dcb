import { defineStore } from 'pinia'
import { markRaw, ref } from 'vue'
import { authApi } from '@/api/auth'
import { ApiError } from '@/api/http'
import { ChatSocket, SocketError, socketUrl, type SocketOptions, type SocketStatus } from '@/api/socket'
import type { Message, MessageId, RoomId, User } from '@/api/types'
import { FeatureChannel } from '@/sync/featureChannel'
import { recountUnread, upsertMessage, type ChatState } from '@/sync/reducer'
import { useMessagesStore } from './messages'
import { useNotifySettingsStore } from './notifySettings'
import { useOutboxStore } from './outbox'
import { useRoomsStore } from './rooms'
import { useSessionStore } from './session'
import { showBootAnswers } from './syncBoot'
import { createSyncCache } from './syncCache'
import { outboxTransport } from './syncOutbox'
import { createSyncReplay } from './syncReplay'
import { useThreadsStore } from './threads'
import { useTypingStore } from './typing'
import { useUsersStore } from './users'

export type { MessageListener } from './syncReplay'

const TYPING_EVERY_MS = 2_000

export interface SyncOptions {
  cacheName?: string
  socket?: Partial<SocketOptions>
  location?: Location
}

/**
 * Keeps the stores in step with the server: opens from the cache (syncCache), says hello
 * with the last seq and applies events (syncReplay), drains the outbox (syncOutbox). This
 * store holds the connection and the commands sent over it.
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
  const lastTyping = new Map<RoomId, number>()
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
    countedThrough: rooms.countedThrough,
  }

  const cache = createSyncCache({
    session,
    users,
    rooms,
    messages,
    seq,
    fromCache,
    behind: () => replay.behind(),
  })
  const replay = createSyncReplay({
    session,
    users,
    rooms,
    messages,
    threads,
    typing,
    outbox,
    state,
    channel,
    socket: requireSocket,
    changed: cache.schedulePersist,
  })
  const { schedulePersist, persistNow } = cache
  const { onMessage, onEvent, receive } = replay

  async function start(me: User, options: SyncOptions = {}): Promise<void> {
    if (socket) return
    session.signedIn(me)
    useNotifySettingsStore().follow(onEvent) // her notification settings, from the server
    // The socket handshake and IndexedDB open in parallel; hello waits for the cached seq.
    const opened = cache.open(options.cacheName ?? 'pychat')
    const location = options.location ?? window.location
    let started: ChatSocket | null = null // this start's socket: a stop (sign-out) ends it
    const ready = (async () => {
      await opened
      await cache.restore(me)
      // Nothing cached (a first visit): boot's answers paint the room before the hello,
      // which waits for this (its reload is newer than they are). The router waits too:
      // the shell is drawn once, with them (drawn first, on its own, the room came later).
      await showBootAnswers(
        { users, rooms, messages },
        () => started !== null && socket === started && !fromCache.value,
        location,
      )
      await outbox.restore()
    })()
    outbox.configure(
      outboxTransport({
        storage: cache.outboxStorage,
        socket: () => socket,
        onSent: (message) => {
          upsertMessage(state, message)
          schedulePersist()
        },
      }),
    )
    socket = new ChatSocket({
      url: socketUrl(location),
      onOpen: async () => {
        await ready
        await replay.hello()
      },
      onFrame: receive,
      onStatus: statusChanged,
      onSessionEnded: () => void sessionEnded(),
      ...options.socket,
    })
    const own = socket
    started = socket
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
      void sendUnsentReads()
      return
    }
    session.caughtUp = false
    channel.lost()
    if (status === 'closed') session.connection = 'offline'
    else if (status === 'connecting' && session.connection !== 'offline') {
      session.connection = 'connecting'
    }
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
    const previous = room?.last_read_message_id ?? 0
    if (!room || id <= previous) return
    room.last_read_message_id = id
    recountUnread(state, room, previous)
    const me = session.userId
    if (me !== null) {
      const markers = (messages.reads[roomId] ??= {})
      markers[me] = Math.max(markers[me] ?? 0, id)
    }
    rooms.readHere(roomId, id)
    schedulePersist()
    await sendRead(roomId, id)
  }

  /** Tells the server of our marker; true once it has it. Only once caught up: it is kept
   * (rooms.unsentReads) over the counters a catch-up reloads, and sent after it. */
  async function sendRead(roomId: RoomId, id: MessageId): Promise<boolean> {
    if (!socket?.isOpen || !session.caughtUp) return false
    try {
      await socket.request({ type: 'read.mark', room: roomId, message: id })
    } catch (error) {
      // Lost with the connection, or the server asked us to slow down: sent after the next
      // catch-up. Refused (the room left, the message gone): never asked again.
      const later = error instanceof SocketError && (error.transient || error.code === 'rate_limited')
      if (!later) rooms.readHeard(roomId, id)
      return false
    }
    rooms.readHeard(roomId, id)
    schedulePersist()
    return true
  }

  /** Caught up: markers moved meanwhile go to the server. Their counters were worked out
   * here from the messages held, so the server's are asked for once it has them. */
  async function sendUnsentReads(): Promise<void> {
    const unsent = Object.entries(rooms.unsentReads).map(([room, id]) => [Number(room), id] as const)
    await Promise.all(
      unsent.map(async ([room, id]) => {
        if (await sendRead(room, id)) await rooms.refreshCounters(room, () => seq.value).catch(() => undefined)
      }),
    )
  }

  /** Moves our marker back to just before a message ("Mark as unread"); the server's `read`
   * event (moved_back) brings the counts, here and on our other devices. */
  async function markUnread(roomId: RoomId, id: MessageId): Promise<void> {
    rooms.forgetUnsentRead(roomId)
    await requireSocket().request({ type: 'read.unmark', room: roomId, message: id })
  }

  /** We saw a thread up to this reply: its mentions of us stop counting. */
  async function markThreadRead(id: MessageId): Promise<void> {
    if (socket?.isOpen) {
      await socket.request({ type: 'thread.read', message: id }).catch(() => undefined)
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
    cache.cancelPersist()
    if (options.forget) {
      await cache.clearAll()
      messages.clear()
      threads.clear()
      rooms.replaceAll([], { isList: false })
      users.replaceAll([])
      outbox.reset()
      useNotifySettingsStore().reset()
      seq.value = null
      fromCache.value = false
    }
    cache.close()
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
    onEvent,
    receive,
    editMessage,
    deleteMessage,
    react,
    markRead,
    markUnread,
    markThreadRead,
    sendTyping,
    persistNow,
    schedulePersist,
    dropConnection,
    reconnectNow,
  }
})
