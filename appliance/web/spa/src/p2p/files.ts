// Peer-to-peer file transfers: offers go to every live device of the other people in a room
// through the signalling relay; the bytes go straight between browsers over data channels
// (docs/api/p2p.md). The server never sees a byte of the file.
import { defineStore } from 'pinia'
import { reactive, ref, watch } from 'vue'
import type { RoomId } from '@/api/types'
import { useRoomsStore } from '@/stores/rooms'
import { useSessionStore } from '@/stores/session'
import { forgetReceived, openSink } from './fileSink'
import { Receiving } from './receiver'
import { OutgoingFile, Sending } from './sender'
import { testHooks } from './testHooks'
import { usePeers } from './usePeers'
import {
  isFinished,
  LABEL_PREFIX,
  MAX_NAME,
  MAX_PENDING_OFFERS,
  mayGoAway,
  parseOffer,
  type Transfer,
} from './transfer'

/** How often a device with offers waiting checks that their receivers are still connected. */
const RECEIVERS_CHECK_MS = 4000
/** A finished card goes away on its own after this long (a received file once saved). */
const FINISHED_CARD_MS = 60_000

export const useP2pFilesStore = defineStore('p2pFiles', () => {
  const transfers = reactive<Transfer[]>([])
  /** A short word for the sender when nobody could be offered the file. */
  const notice = ref('')
  const session = useSessionStore()
  const outgoing = new Map<string, OutgoingFile>()
  const sendings = new Map<string, Sending>()
  const receivings = new Map<string, Receiving>()
  let started = false

  function find(key: string): Transfer | undefined {
    return transfers.find((t) => t.key === key)
  }

  function start(): void {
    if (started) return
    started = true
    const peers = usePeers()
    peers.onSignal('file-', (frame, data) => {
      const from = Number(frame.from)
      if (data.kind === 'file-offer') return received(Number(frame.room), Number(frame.user), from, data)
      const id = typeof data.id === 'string' ? data.id : ''
      const transfer = find(`${id}:${from}`)
      if (!transfer) return
      if (data.kind === 'file-decline' && transfer.state === 'waiting') transfer.state = 'declined'
      if (data.kind === 'file-cancel') stopLocally(transfer)
      // Another device of this user accepted it: this one's card goes.
      if (data.kind === 'file-taken' && transfer.state === 'offered') dismiss(transfer.key)
    })
    peers.onChannel(LABEL_PREFIX, (channel, peer) => {
      const key = `${channel.label.slice(LABEL_PREFIX.length)}:${peer.remoteConn}`
      const sending = sendings.get(key)
      if (!sending) return channel.close()
      sending.attach(channel)
      takenBy(key)
    })
    setInterval(() => void checkReceivers(), RECEIVERS_CHECK_MS)
    watchP2pRooms()
    dismissFinished()
  }

  /** An offer whose receiving device went offline can never be accepted: it says so and ends. */
  async function checkReceivers(): Promise<void> {
    const rooms = new Set(transfers.filter((t) => t.state === 'waiting').map((t) => t.room))
    for (const room of rooms) {
      let live: Set<number>
      try {
        live = new Set((await usePeers().devices(room)).map((d) => d.conn))
      } catch {
        continue // our own socket is down: nothing known about theirs
      }
      for (const t of transfers) {
        if (t.room !== room || t.state !== 'waiting' || live.has(t.remoteConn)) continue
        sendings.delete(t.key)
        t.state = 'offline'
      }
    }
  }

  /** A room that leaves peer-to-peer mode withdraws its pending offers on both sides (each
   *  device sees the room change; the signal covers a device that sees it late). */
  function watchP2pRooms(): void {
    const rooms = useRoomsStore()
    let before = new Set<number>()
    watch(
      () => rooms.all.filter((r) => r.p2p).map((r) => r.id).join(','),
      (now) => {
        const on = new Set(now ? now.split(',').map(Number) : [])
        for (const room of before) if (!on.has(room)) withdraw(room)
        before = on
      },
      { immediate: true },
    )
  }

  function withdraw(room: number): void {
    for (const t of [...transfers]) {
      if (t.room !== room) continue
      if (t.state === 'offered') dismiss(t.key)
      if (t.state !== 'waiting') continue
      usePeers().sendSignal(t.room, t.remoteConn, { kind: 'file-cancel', id: t.id })
      sendings.delete(t.key)
      t.state = 'withdrawn'
    }
  }

  /** Finished cards that hold nothing still needed go away after a while. */
  function dismissFinished(): void {
    const timers = new Map<string, ReturnType<typeof setTimeout>>()
    watch(
      () => transfers.filter(mayGoAway).map((t) => t.key),
      (keys) => {
        for (const key of keys) {
          if (timers.has(key)) continue
          const ms = testHooks().finishedCardMs ?? FINISHED_CARD_MS
          timers.set(key, setTimeout(() => dismiss(key), ms))
        }
        for (const [key, timer] of timers) {
          if (keys.includes(key)) continue
          clearTimeout(timer) // dismissed meanwhile
          timers.delete(key)
        }
      },
    )
  }

  function received(room: number, user: number, from: number, data: Record<string, unknown>): void {
    const offer = parseOffer(data)
    if (!offer || find(`${offer.id}:${from}`)) return
    if (transfers.filter((t) => t.state === 'offered').length >= MAX_PENDING_OFFERS) return
    transfers.push({
      ...offer,
      key: `${offer.id}:${from}`,
      direction: 'in',
      room,
      peerUser: user,
      remoteConn: from,
      state: 'offered',
      done: 0,
      speed: 0,
      speedAt: 0,
      sha256: null,
      error: null,
      downloadUrl: null,
      resumes: 0,
      resumedFrom: 0,
      saved: false,
    })
  }

  /** Offers files to every live device of the room's other members; the count reached. */
  async function offer(room: RoomId, files: File[]): Promise<number> {
    start()
    const peers = usePeers()
    const devices = (await peers.devices(room)).filter((d) => d.user !== session.userId)
    notice.value = devices.length ? '' : 'Nobody else in this room is online to receive it.'
    for (const file of files) {
      const id = crypto.randomUUID()
      const source = new OutgoingFile(file)
      outgoing.set(id, source)
      const name = file.name.slice(0, MAX_NAME) || 'file'
      for (const device of devices) {
        const view = reactive<Transfer>({
          key: `${id}:${device.conn}`,
          id,
          direction: 'out',
          name,
          size: file.size,
          mime: file.type.slice(0, 200),
          room,
          peerUser: device.user,
          remoteConn: device.conn,
          state: 'waiting',
          done: 0,
          speed: 0,
          speedAt: 0,
          sha256: null,
          error: null,
          downloadUrl: null,
          resumes: 0,
          resumedFrom: 0,
      saved: false,
        })
        transfers.push(view)
        const held = find(view.key) as Transfer
        sendings.set(view.key, new Sending(held, source, () => sendings.delete(view.key)))
        peers.sendSignal(room, device.conn, { kind: 'file-offer', id, name, size: file.size, mime: view.mime })
      }
    }
    return devices.length
  }

  /** One device of a person accepted: the offer is withdrawn from their other devices. */
  function takenBy(key: string): void {
    const taken = find(key)
    if (!taken) return
    for (const other of transfers.filter((t) => t.id === taken.id && t.key !== key)) {
      if (other.peerUser !== taken.peerUser || other.state !== 'waiting') continue
      usePeers().sendSignal(other.room, other.remoteConn, { kind: 'file-taken', id: other.id })
      sendings.delete(other.key)
      dismiss(other.key)
    }
  }

  /** Call straight from the click: the save picker needs the user's gesture. */
  async function accept(key: string): Promise<void> {
    const transfer = find(key)
    if (!transfer || transfer.state !== 'offered') return
    transfer.state = 'active'
    let sink
    try {
      sink = await openSink(transfer.id, transfer.name)
    } catch {
      transfer.state = 'offered' // the user closed the save dialog
      return
    }
    const peers = usePeers()
    const receiving = new Receiving(
      transfer,
      sink,
      () => peers.connect(transfer.remoteConn, transfer.peerUser, transfer.room),
      async () => (await peers.devices(transfer.room)).some((d) => d.conn === transfer.remoteConn),
      () => receivings.delete(key),
    )
    receivings.set(key, receiving)
    receiving.start()
  }

  function decline(key: string): void {
    const transfer = find(key)
    if (!transfer || transfer.state !== 'offered') return
    usePeers().sendSignal(transfer.room, transfer.remoteConn, { kind: 'file-decline', id: transfer.id })
    dismiss(key)
  }

  /** Either side stops the transfer; the other side hears it on the channel or by signal. */
  function cancel(key: string): void {
    const transfer = find(key)
    if (!transfer || isFinished(transfer)) return
    usePeers().sendSignal(transfer.room, transfer.remoteConn, { kind: 'file-cancel', id: transfer.id })
    stopLocally(transfer)
  }

  function stopLocally(transfer: Transfer): void {
    sendings.get(transfer.key)?.cancel()
    sendings.delete(transfer.key)
    receivings.get(transfer.key)?.cancel()
    receivings.delete(transfer.key)
    if (transfer.state === 'offered') return dismiss(transfer.key)
    transfer.state = 'cancelled'
  }

  function dismiss(key: string): void {
    const index = transfers.findIndex((t) => t.key === key)
    if (index < 0) return
    const [gone] = transfers.splice(index, 1)
    if (!gone) return
    if (gone.downloadUrl) URL.revokeObjectURL(gone.downloadUrl)
    if (gone.direction === 'in' && gone.state === 'done') void forgetReceived(gone.id, gone.name)
    if (gone.direction === 'out' && !transfers.some((t) => t.id === gone.id)) outgoing.delete(gone.id)
  }

  function saved(key: string): void {
    const transfer = find(key)
    if (transfer) transfer.saved = true
  }

  return { transfers, notice, start, offer, accept, decline, cancel, dismiss, saved }
})
