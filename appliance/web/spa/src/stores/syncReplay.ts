// Catching up and keeping up: hello with the last seq (the server replays what we missed, or
// asks for a resync and we reload over REST), then each event through the reducer.
import { authApi } from '@/api/auth'
import { roomsApi } from '@/api/rooms'
import type { ChatSocket } from '@/api/socket'
import type { ChatEvent, Message, ServerFrame } from '@/api/types'
import { usersApi } from '@/api/users'
import type { FeatureChannel, FeatureFrame } from '@/sync/featureChannel'
import { applyEvent, countersNeedServer, setPresence, type ChatState } from '@/sync/reducer'
import type { useMessagesStore } from './messages'
import type { useOutboxStore } from './outbox'
import type { useRoomsStore } from './rooms'
import type { useSessionStore } from './session'
import type { useThreadsStore } from './threads'
import type { useTypingStore } from './typing'
import type { useUsersStore } from './users'

export type MessageListener = (message: Message, live: boolean) => void
/** Hears every event once applied (replayed ones too: `live` false), e.g. read markers. */
export type ChatEventListener = (event: ChatEvent, live: boolean) => void

export interface SyncReplayDeps {
  session: ReturnType<typeof useSessionStore>
  users: ReturnType<typeof useUsersStore>
  rooms: ReturnType<typeof useRoomsStore>
  messages: ReturnType<typeof useMessagesStore>
  threads: ReturnType<typeof useThreadsStore>
  typing: ReturnType<typeof useTypingStore>
  outbox: ReturnType<typeof useOutboxStore>
  /** The reducer's view of the stores; its seq is the last event applied. */
  state: ChatState
  channel: FeatureChannel
  socket: () => ChatSocket
  /** Told after each change worth keeping in the browser's cache. */
  changed: () => void
}

export type SyncReplay = ReturnType<typeof createSyncReplay>

export function createSyncReplay(deps: SyncReplayDeps) {
  const { session, users, rooms, messages, threads, typing, outbox, state, channel } = deps
  /** Live events held while a REST reload runs: applied after it, in order. */
  let held: ChatEvent[] | null = null
  /** Counters asked of the server and not answered yet: the stores are behind the seq. */
  let settling = 0
  const listeners = new Set<MessageListener>()
  const eventListeners = new Set<ChatEventListener>()

  function onMessage(listener: MessageListener): () => void {
    listeners.add(listener)
    return () => listeners.delete(listener)
  }

  function onEvent(listener: ChatEventListener): () => void {
    eventListeners.add(listener)
    return () => eventListeners.delete(listener)
  }

  /** Resume: replayed events arrive before the reply and are applied as they come. */
  async function hello(): Promise<void> {
    const since = state.seq
    const reply = await deps.socket().request<{ head: number; resync?: boolean; conn: number }>(
      { type: 'hello', since },
      30_000,
    )
    if (since === null || reply.resync) await reloadAll(reply.head)
    session.caughtUp = true
    deps.changed()
    channel.ready(reply.conn)
  }

  /** A fresh snapshot over REST; live events that arrive meanwhile are applied after it. */
  async function reloadAll(head: number): Promise<void> {
    held = []
    try {
      // Right after start the router has just asked who we are: that answer is used once.
      const known = session.takeServerAnswer()
      const [me, userList, roomList] = await Promise.all([
        known ? { user: known } : authApi.me(),
        usersApi.list(),
        roomsApi.list(),
      ])
      session.signedIn(me.user)
      users.replaceAll(userList.users)
      rooms.replaceAll(roomList.rooms, { seq: roomList.seq })
      // Held history may have a gap now: views reload what they show (a page shown from
      // boot's requests stays on screen until its room's newest page settles it).
      messages.clear({ keepEarly: true })
      threads.clear()
      state.seq = head
      const buffered: ChatEvent[] = held ?? []
      held = null
      for (const event of buffered) apply(event, true)
    } finally {
      held = null
    }
  }

  function receive(frame: ServerFrame): void {
    switch (frame.type) {
      case 'event':
        if (held) held.push(frame)
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
    const recount = state.seq !== null && event.seq <= state.seq ? null : countersNeedServer(state, event)
    if (!applyEvent(state, event)) return
    if (recount !== null) {
      settling += 1
      void rooms
        .refreshCounters(recount, () => state.seq)
        .then(deps.changed, () => undefined)
        .finally(() => (settling -= 1))
    }
    if (event.kind === 'message.new') {
      const message = event.data.message
      typing.stopped(message.room, message.author)
      if (message.author === session.userId && message.client_id) {
        void outbox.acknowledge(message.client_id)
      }
      for (const listener of listeners) listener(message, live)
    }
    for (const listener of eventListeners) listener(event, live)
    deps.changed()
  }

  /** The stores are behind the seq (a reload or a counters refresh on its way): a copy saved
   * now would hold this seq with counters from before it, and a start from that copy would
   * never replay the event that changed them (a thread mention seen, back after a reload). */
  const behind = (): boolean => held !== null || settling > 0

  return { hello, receive, onMessage, onEvent, behind }
}
