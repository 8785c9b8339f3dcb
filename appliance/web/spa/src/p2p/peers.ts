// One RTCPeerConnection per remote device, made on demand and closed when idle. Signals
// travel through the server's `rtc.signal` relay, namespaced `data.app = "p2p"` so that
// the calls code (which uses `data.call`) and this one ignore each other.
// Only the impolite side (the lower socket id) makes a connection's first offer: the polite
// side asks for one with `hello`. When both offered at once, Chromium's rollback sometimes
// left both connections negotiated but with ICE never starting (a CI failure; about 1 in 30
// in a page with two connections). Later offers follow "perfect negotiation" (W3C WebRTC
// §10.7). Each connection has an id sent with its signals (`pid`, and `rpid`: the other
// side's connection it answers), so a `bye`, an answer or a candidate meant for a
// connection already replaced never touches its successor.
import { callsApi } from '@/api/calls'
import type { FeatureChannel, FeatureFrame } from '@/sync/featureChannel'
import { testHooks } from './testHooks'

export type ChannelHandler = (channel: RTCDataChannel, peer: Peer) => void

export interface P2pSignal {
  app: 'p2p'
  kind: string
  [key: string]: unknown
}

const IDLE_MS = 60_000
/** A channel the impolite side opens only to have something to offer when asked. */
const KICK_LABEL = 'p2p-kick'

export class Peer {
  readonly pc: RTCPeerConnection
  /** This connection's id in its signals. */
  readonly id = crypto.randomUUID()
  /** The id of the other device's connection this one is paired with, once heard. */
  remoteId: string | null = null
  private makingOffer = false
  private ignoreOffer = false
  private lastUsed = Date.now()

  constructor(
    private readonly manager: PeerManager,
    readonly remoteConn: number,
    readonly remoteUser: number,
    /** A room both devices' users share: the relay carries signals only within one. */
    readonly room: number,
    config: RTCConfiguration,
  ) {
    this.pc = new RTCPeerConnection(config)
    this.pc.onnegotiationneeded = () => {
      if (this.polite && !this.negotiated) return // `hello` asked the other side to offer
      void this.offer()
    }
    this.pc.onicecandidate = ({ candidate }) => this.signal({ kind: 'ice', candidate: candidate?.toJSON() ?? null })
    this.pc.oniceconnectionstatechange = () => {
      // One side restarts, so that the two restart offers never collide.
      if (this.pc.iceConnectionState === 'failed' && !this.polite) this.pc.restartIce()
    }
    this.pc.onconnectionstatechange = () => {
      if (this.pc.connectionState === 'closed') this.manager.forget(this)
    }
    this.pc.ondatachannel = ({ channel }) => {
      if (channel.label === KICK_LABEL) return channel.close()
      this.watch(channel)
      this.manager.dispatchChannel(channel, this)
    }
  }

  /** The device with the larger socket id yields when both offer at once. */
  get polite(): boolean {
    return (this.manager.localConn ?? 0) > this.remoteConn
  }

  /** An offer and its answer went through once (the data transport exists). */
  get negotiated(): boolean {
    return this.pc.currentRemoteDescription !== null
  }

  get usable(): boolean {
    return !['failed', 'closed'].includes(this.pc.connectionState)
  }

  touch(): void {
    this.lastUsed = Date.now()
  }

  idleFor(now: number): number {
    return now - this.lastUsed
  }

  openChannel(label: string): RTCDataChannel {
    const channel = this.watch(this.pc.createDataChannel(label, { ordered: true }))
    this.made++
    if (this.polite && !this.negotiated) this.signal({ kind: 'hello' })
    return channel
  }

  /** Channels this side created: none means nothing to offer yet. */
  private made = 0

  /** The polite side's `hello`: make the first offer unless one is already under way. */
  kick(): void {
    if (this.polite || this.made > 0 || this.makingOffer || this.pc.localDescription) return
    this.openChannel(KICK_LABEL) // the other side closes it on arrival
  }

  /** Data channels open now (RTCPeerConnection cannot list them): a busy peer is kept. */
  openChannels = 0

  private watch(channel: RTCDataChannel): RTCDataChannel {
    this.touch()
    let opened = false
    channel.addEventListener('open', () => {
      opened = true
      this.openChannels++
    }, { once: true })
    channel.addEventListener('close', () => {
      if (opened) this.openChannels--
      this.touch()
    }, { once: true })
    return channel
  }

  signal(body: Record<string, unknown>): void {
    this.manager.sendSignal(this.room, this.remoteConn, { ...body, pid: this.id, rpid: this.remoteId })
  }

  private async offer(): Promise<void> {
    try {
      this.makingOffer = true
      await this.pc.setLocalDescription()
      this.signal({ kind: 'sdp', description: this.pc.localDescription?.toJSON() })
    } catch {
      // A failed offer is retried by the next negotiationneeded or ICE restart.
    } finally {
      this.makingOffer = false
    }
  }

  async receive(data: Record<string, unknown>): Promise<void> {
    this.touch()
    if (typeof data.pid === 'string' && data.kind !== 'ice') this.remoteId = data.pid
    if (data.kind === 'hello') {
      this.kick()
    } else if (data.kind === 'sdp') {
      const description = data.description as RTCSessionDescriptionInit | undefined
      if (!description || (description.type !== 'offer' && description.type !== 'answer')) return
      const collision = description.type === 'offer' && (this.makingOffer || this.pc.signalingState !== 'stable')
      this.ignoreOffer = !this.polite && collision
      if (this.ignoreOffer) return
      await this.pc.setRemoteDescription(description)
      if (description.type === 'offer') {
        await this.pc.setLocalDescription()
        this.signal({ kind: 'sdp', description: this.pc.localDescription?.toJSON() })
      }
    } else if (data.kind === 'ice') {
      try {
        await this.pc.addIceCandidate((data.candidate as RTCIceCandidateInit | null) ?? undefined)
      } catch (error) {
        if (!this.ignoreOffer) throw error
      }
    }
  }

  /** Closes the connection; `notify` tells the other device to drop its end too, so that
   *  a later connection between the two starts fresh on both sides. */
  close(notify = true): void {
    if (notify && this.pc.connectionState !== 'closed') this.signal({ kind: 'bye' })
    this.pc.close()
    this.manager.forget(this)
  }
}

/** Peer connections of this device, by the remote socket id. */
export class PeerManager {
  private readonly peers = new Map<number, Peer>()
  private readonly channelHandlers = new Map<string, ChannelHandler>()
  private readonly signalHandlers = new Map<string, (frame: FeatureFrame, data: P2pSignal) => void>()
  private iceServers: { servers: RTCIceServer[]; until: number } | null = null
  private idleTimer: ReturnType<typeof setInterval> | null = null
  private readonly unsubscribe: () => void

  constructor(private readonly channel: FeatureChannel) {
    this.unsubscribe = channel.on('rtc.signal', (frame) => this.enqueue(frame))
    this.idleTimer = setInterval(() => this.closeIdle(), IDLE_MS / 2)
  }

  get localConn(): number | null {
    return this.channel.connId.value
  }

  /** Data channels opened by the remote side whose label starts with `prefix`. */
  onChannel(prefix: string, handler: ChannelHandler): void {
    this.channelHandlers.set(prefix, handler)
  }

  /** Signals of this app (`data.app === "p2p"`) whose `kind` starts with `prefix`. */
  onSignal(prefix: string, handler: (frame: FeatureFrame, data: P2pSignal) => void): void {
    this.signalHandlers.set(prefix, handler)
  }

  sendSignal(room: number, to: number, body: Record<string, unknown>): void {
    this.channel.send({ type: 'rtc.signal', room, to, data: { app: 'p2p', ...body } })
  }

  /** The live devices of a room's members (this one excluded). */
  async devices(room: number): Promise<{ user: number; conn: number }[]> {
    const reply = await this.channel.request<{ devices: { user: number; conn: number }[] }>({
      type: 'rtc.devices',
      room,
    })
    return reply.devices.filter((d) => d.conn !== this.localConn)
  }

  peer(remoteConn: number): Peer | undefined {
    const found = this.peers.get(remoteConn)
    return found?.usable ? found : undefined
  }

  async connect(remoteConn: number, remoteUser: number, room: number): Promise<Peer> {
    const held = this.peer(remoteConn)
    if (held) return held
    const config = await this.configuration()
    const again = this.peer(remoteConn)
    if (again) return again
    this.peers.get(remoteConn)?.close() // failed: both ends start again
    const made = new Peer(this, remoteConn, remoteUser, room, config)
    this.peers.set(remoteConn, made)
    return made
  }

  dispatchChannel(channel: RTCDataChannel, peer: Peer): void {
    for (const [prefix, handler] of this.channelHandlers) {
      if (channel.label.startsWith(prefix)) return handler(channel, peer)
    }
    channel.close()
  }

  forget(peer: Peer): void {
    if (this.peers.get(peer.remoteConn) === peer) this.peers.delete(peer.remoteConn)
  }

  close(): void {
    this.unsubscribe()
    if (this.idleTimer !== null) clearInterval(this.idleTimer)
    for (const peer of [...this.peers.values()]) peer.close()
  }

  /** Signals from one device are handled one after another: a candidate that arrives
   *  while its offer is still being applied must wait for it, not be dropped. */
  private readonly queues = new Map<number, Promise<void>>()

  private enqueue(frame: FeatureFrame): void {
    const from = Number(frame.from)
    const next = (this.queues.get(from) ?? Promise.resolve())
      .then(() => this.onFrame(frame))
      .catch(() => undefined)
    this.queues.set(from, next)
    void next.then(() => {
      if (this.queues.get(from) === next) this.queues.delete(from)
    })
  }

  private async onFrame(frame: FeatureFrame): Promise<void> {
    const data = frame.data as Partial<P2pSignal> | undefined
    if (!data || data.app !== 'p2p' || typeof data.kind !== 'string') return
    const from = Number(frame.from)
    const user = Number(frame.user)
    const room = Number(frame.room)
    if (['bye', 'hello', 'sdp', 'ice'].includes(data.kind)) {
      const held = this.peers.get(from)
      const pid = typeof data.pid === 'string' ? data.pid : null
      const rpid = typeof data.rpid === 'string' ? data.rpid : null
      // Which of our connections the signal is about: the one paired with its sender's
      // connection, or the one it names; an unpaired one of ours may take a new pairing.
      const ours = held && (held.remoteId === pid || (rpid !== null && rpid === held.id))
      if (data.kind === 'bye') {
        if (held && ours) held.close(false)
        return
      }
      if (rpid !== null && rpid !== held?.id) return // meant for a connection of ours now gone
      const description = data.description as RTCSessionDescriptionInit | undefined
      const opens = data.kind === 'hello' || (data.kind === 'sdp' && description?.type === 'offer')
      // A failed connection still takes signals: the impolite side's ICE restart revives it.
      let peer = held && held.pc.connectionState !== 'closed' ? held : undefined
      if (peer && !ours && peer.remoteId !== null) {
        if (!opens) return // for a connection of ours already replaced
        peer.close(false) // they started a new connection: ours is stale on their side
        peer = undefined
      }
      // A hello or an offer makes the peer; an answer or candidate for one we do not hold is stale.
      if (!peer && opens) peer = await this.connect(from, user, room)
      if (!peer || (data.kind === 'ice' && peer.remoteId === null)) return
      await peer.receive(data).catch(() => undefined)
      return
    }
    for (const [prefix, handler] of this.signalHandlers) {
      if (data.kind.startsWith(prefix)) return handler(frame, data as P2pSignal)
    }
  }

  private configuring: Promise<RTCConfiguration> | null = null

  private configuration(): Promise<RTCConfiguration> {
    this.configuring ??= this.fetchConfiguration().finally(() => (this.configuring = null))
    return this.configuring
  }

  private async fetchConfiguration(): Promise<RTCConfiguration> {
    const now = Date.now()
    if (!this.iceServers || this.iceServers.until < now) {
      let servers: RTCIceServer[] = []
      let keepMs = 10_000 // after an error (e.g. 429), ask again soon
      try {
        // Our own TURN (docs/api/turn.md): direct on the LAN, relayed otherwise.
        const turn = await callsApi.turn()
        if (turn.urls.length) servers = [{ urls: turn.urls, username: turn.username, credential: turn.credential }]
        // Fresh credentials at half their life; a server without TURN is asked once a minute.
        keepMs = servers.length ? (turn.ttl * 1000) / 2 : 60_000
      } catch {
        // Direct connections only, for now.
      }
      this.iceServers = { servers, until: now + keepMs }
    }
    return {
      iceServers: this.iceServers.servers,
      iceTransportPolicy: testHooks().relayOnly ? 'relay' : 'all',
    }
  }

  /** The local and remote candidate types of each connected peer's selected pair. */
  async routes(): Promise<{ local: string; remote: string }[]> {
    const found: { local: string; remote: string }[] = []
    for (const peer of this.peers.values()) {
      const stats = await peer.pc.getStats()
      for (const report of stats.values()) {
        if (report.type !== 'transport' || !report.selectedCandidatePairId) continue
        const pair = stats.get(report.selectedCandidatePairId)
        const local = pair && stats.get(pair.localCandidateId)
        const remote = pair && stats.get(pair.remoteCandidateId)
        if (local && remote) found.push({ local: local.candidateType, remote: remote.candidateType })
      }
    }
    return found
  }

  private closeIdle(): void {
    const now = Date.now()
    for (const peer of [...this.peers.values()]) {
      if (peer.openChannels === 0 && peer.idleFor(now) > IDLE_MS) peer.close()
    }
  }
}
