// Peer-to-peer file transfers: offers go to every live device of the other people in a room
// through the signalling relay; the bytes go straight between browsers over data channels
// (docs/api/p2p.md). The server never sees a byte of the file.
import { defineStore } from 'pinia'
import { reactive, ref } from 'vue'
import type { RoomId } from '@/api/types'
import { useSessionStore } from '@/stores/session'
import { forgetReceived, openSink } from './fileSink'
import { Receiving } from './receiver'
import { OutgoingFile, Sending } from './sender'
import { usePeers } from './usePeers'
import { LABEL_PREFIX, MAX_NAME, MAX_PENDING_OFFERS, parseOffer, type Transfer } from './transfer'

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
    if (!transfer || ['done', 'failed', 'cancelled', 'declined'].includes(transfer.state)) return
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

  return { transfers, notice, start, offer, accept, decline, cancel, dismiss }
})
