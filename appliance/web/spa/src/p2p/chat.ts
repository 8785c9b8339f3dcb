// Peer-to-peer conversations: a direct room switched to `p2p` sends its messages over data
// channels to every live device of its members (the author's own other devices too), never
// through the server. When two devices meet they exchange the ids they hold, then the
// messages the other lacks, so a device that was away catches up and an undelivered message
// goes out as soon as a device of its recipient appears (docs/api/p2p.md).
import { defineStore } from 'pinia'
import { reactive, toRaw, watch } from 'vue'
import { useRoomsStore } from '@/stores/rooms'
import { useSessionStore } from '@/stores/session'
import { useSyncStore } from '@/stores/sync'
import type { FeatureChannel } from '@/sync/featureChannel'
import { byTime, isP2pMessage, P2pMessageDb, type P2pMessage, type StoredP2pMessage } from './messageDb'
import type { Peer } from './peers'
import { usePeers } from './usePeers'
import { MAX_IDS, planBatches, type SyncMessage, parseSyncMessage } from './chatWire'

const LABEL_PREFIX = 'pm:'
const DISCOVER_EVERY_MS = 15_000
const OPEN_TIMEOUT_MS = 20_000

interface Link {
  channel: RTCDataChannel
  peer: Peer
  room: number
  /** The socket id of the device that opened the channel: on a duplicate, the lower wins. */
  creator: number
  /** When it was made: one still not open after OPEN_TIMEOUT_MS is given up. */
  since: number
}

export const useP2pChatStore = defineStore('p2pChat', () => {
  const byRoom = reactive<Record<number, StoredP2pMessage[]>>({})
  const session = useSessionStore()
  const rooms = useRoomsStore()
  const links = new Map<string, Link>()
  let db: Promise<P2pMessageDb> | null = null
  let started = false

  function database(): Promise<P2pMessageDb> {
    if (!db) db = P2pMessageDb.open(session.userId ?? 0)
    return db
  }

  function p2pRooms(): number[] {
    return rooms.all.filter((r) => r.kind === 'direct' && r.p2p).map((r) => r.id)
  }

  function start(): void {
    if (started) return
    started = true
    const peers = usePeers()
    peers.onChannel(LABEL_PREFIX, (channel, peer) => {
      const room = Number(channel.label.slice(LABEL_PREFIX.length))
      if (!p2pRooms().includes(room)) return channel.close()
      attach({ channel, peer, room, creator: peer.remoteConn, since: Date.now() })
    })
    const channel = toRaw(useSyncStore().channel) as unknown as FeatureChannel // see usePeers
    channel.onReady(() => discoverAll())
    watch(
      () => p2pRooms().join(','),
      () => {
        // A room switched back to server chat keeps no links.
        const on = new Set(p2pRooms())
        for (const link of [...links.values()]) if (!on.has(link.room)) link.channel.close()
        discoverAll()
      },
    )
    setInterval(() => discoverAll(), DISCOVER_EVERY_MS)
  }

  function discoverAll(): void {
    for (const room of p2pRooms()) void discover(room).catch(() => undefined)
  }

  /** Opens a channel to each live device in the room that has none yet. */
  async function discover(room: number): Promise<void> {
    const peers = usePeers()
    const devices = await peers.devices(room)
    // A device whose socket is gone reconnects under a new id: drop the link to the old one.
    const live = new Set(devices.map((d) => d.conn))
    for (const link of [...links.values()]) {
      if (link.room === room && !live.has(link.peer.remoteConn)) link.channel.close()
    }
    for (const device of devices) {
      const link = links.get(`${device.conn}:${room}`)
      if (link && alive(link)) continue
      const peer = await peers.connect(device.conn, device.user, room)
      const again = links.get(`${device.conn}:${room}`)
      if (again && alive(again)) continue // made meanwhile
      const channel = peer.openChannel(LABEL_PREFIX + room)
      attach({ channel, peer, room, creator: peers.localConn ?? 0, since: Date.now() })
    }
  }

  /** Open, or opening for less than OPEN_TIMEOUT_MS (after that its peer is taken as dead). */
  function alive(link: Link): boolean {
    const state = link.channel.readyState
    if (state === 'open') return true
    if (state === 'connecting' && Date.now() - link.since < OPEN_TIMEOUT_MS) return true
    link.channel.close()
    // Never got through: the connection itself is dead; the next one starts afresh.
    if (state === 'connecting' && link.peer.pc.connectionState !== 'connected') link.peer.close()
    return false
  }

  function attach(link: Link): void {
    const key = `${link.peer.remoteConn}:${link.room}`
    const held = links.get(key)
    if (held && held.channel !== link.channel && held.channel.readyState !== 'closed') {
      // Both devices opened one at once: both keep the one opened by the lower socket id.
      if (held.creator < link.creator) return link.channel.close()
      held.channel.close()
    }
    links.set(key, link)
    const { channel } = link
    channel.onopen = () => void sendHave(link)
    if (channel.readyState === 'open') void sendHave(link)
    channel.onmessage = ({ data }) => {
      if (typeof data === 'string') void receive(link, data).catch(() => undefined)
    }
    channel.onclose = () => {
      if (links.get(key)?.channel === channel) links.delete(key)
    }
  }

  async function sendHave(link: Link): Promise<void> {
    const held = await (await database()).room(link.room)
    post(link, { t: 'have', ids: held.slice(-MAX_IDS).map((m) => m.id) })
  }

  function post(link: Link, msg: SyncMessage): void {
    if (link.channel.readyState === 'open') link.channel.send(JSON.stringify(msg))
  }

  /** Whether `author` may appear in messages that `link`'s device passes on. */
  function trusted(link: Link, m: P2pMessage): boolean {
    const room = rooms.byId[link.room]
    if (!room || m.room !== link.room || !room.members.includes(m.author)) return false
    // My own devices relay anyone's messages; another person's only theirs and mine.
    const me = session.userId
    return link.peer.remoteUser === me || m.author === link.peer.remoteUser || m.author === me
  }

  async function receive(link: Link, text: string): Promise<void> {
    const msg = parseSyncMessage(text)
    if (!msg) return
    const store = await database()
    const fromOther = link.peer.remoteUser !== session.userId
    if (msg.t === 'have') {
      const theirs = new Set(msg.ids)
      const mine = await store.room(link.room)
      if (fromOther) await delivered(link.room, mine.filter((m) => theirs.has(m.id)).map((m) => m.id))
      const missing = mine.filter((m) => !theirs.has(m.id)).map(({ delivered: _, ...m }) => m)
      for (const batch of planBatches(missing)) post(link, { t: 'msgs', messages: batch })
    } else if (msg.t === 'msgs') {
      const good = msg.messages.filter((m) => isP2pMessage(m) && trusted(link, m))
      const me = session.userId
      const added = await store.add(good.map((m) => ({ ...m, delivered: m.author !== me })))
      show(link.room, added)
      post(link, { t: 'got', ids: good.map((m) => m.id) })
      // Pass new ones to my other devices already linked (they may not link to the author).
      if (added.length) relay(link, added)
    } else if (msg.t === 'got' && fromOther) {
      await delivered(link.room, msg.ids)
    }
  }

  function relay(from: Link, added: StoredP2pMessage[]): void {
    const plain = added.map(({ delivered: _, ...m }) => m)
    for (const link of links.values()) {
      if (link === from || link.room !== from.room) continue
      for (const batch of planBatches(plain)) post(link, { t: 'msgs', messages: batch })
    }
  }

  async function delivered(room: number, ids: string[]): Promise<void> {
    if (!ids.length) return
    const changed = new Set(await (await database()).markDelivered(ids))
    for (const m of byRoom[room] ?? []) if (changed.has(m.id)) m.delivered = true
  }

  function show(room: number, added: StoredP2pMessage[]): void {
    const list = byRoom[room]
    if (!list || !added.length) return
    const ids = new Set(list.map((m) => m.id))
    list.push(...added.filter((m) => !ids.has(m.id)))
    list.sort(byTime)
  }

  async function load(room: number): Promise<void> {
    start()
    byRoom[room] = await (await database()).room(room)
    void discover(room).catch(() => undefined)
  }

  async function send(room: number, body: string): Promise<void> {
    start()
    const me = session.userId
    if (me === null) return
    const message: P2pMessage = { id: crypto.randomUUID(), room, author: me, body, created_at: Date.now() }
    const stored = { ...message, delivered: false }
    await (await database()).add([stored])
    show(room, [stored])
    for (const link of links.values()) if (link.room === room) post(link, { t: 'msgs', messages: [message] })
    void discover(room).catch(() => undefined)
  }

  return { byRoom, start, load, send }
})
