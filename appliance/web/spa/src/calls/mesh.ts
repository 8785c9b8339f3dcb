// The full mesh of one call: a Peer per other participant, the media this device sends,
// the video profile for the mesh's size, and link statistics for the tiles.
import { Peer, type LocalMedia } from './peer'
import { isPolite, linkQuality, scaleFor, videoProfile } from './profile'
import type { CallSignal, Participant, Quality, StreamMap } from './types'

export interface PeerStats {
  quality: Quality
  /** The local candidate type of the selected pair: host, srflx, prflx or relay. */
  route: string
  framesDecoded: number
  /** Frames decoded per received track id (a camera and a screen are told apart). */
  framesByTrack: Record<string, number>
  audioSamples: number
  audioLevel: number
}

export interface MeshOptions {
  me: number
  callId: number
  config: RTCConfiguration
  send(to: number, data: CallSignal): boolean
  changed(): void
}

const STATS_EVERY_MS = 1000

export class Mesh {
  readonly peers = new Map<number, Peer>()
  readonly stats = new Map<number, PeerStats>()
  readonly media: LocalMedia
  cameraOn: boolean
  private participantCount = 1
  private seats = new Map<number, Participant>()
  private statsTimer: ReturnType<typeof setInterval>
  private lastLoss = new Map<number, { lost: number; received: number }>()
  private screenLabel = ''

  constructor(
    private readonly options: MeshOptions,
    camera: MediaStream,
  ) {
    this.cameraOn = camera.getVideoTracks().length > 0
    this.media = { camera, sendVideo: this.cameraOn, screen: null, streams: {} }
    this.describeStreams()
    this.statsTimer = setInterval(() => void this.sampleStats(), STATS_EVERY_MS)
  }

  /**
   * Brings the peers in line with the call's participants. Of each pair, the one who joined
   * later offers; a seat with a new `joined_at` is a new device (or a fresh join): its old
   * connection goes. The same seat on a new socket (`replaces`) keeps its connection.
   */
  reconcile(participants: Participant[]): void {
    const mine = participants.find((p) => p.user === this.options.me)
    this.seats = new Map(participants.map((p) => [p.user, p]))
    this.participantCount = participants.length
    for (const [user, peer] of this.peers) {
      const seat = this.seats.get(user)
      if (!seat || seat.joined_at !== peer.joinedAt) this.drop(user)
      else peer.conn = seat.conn
    }
    for (const seat of participants) {
      if (seat.user === this.options.me || this.peers.has(seat.user) || !mine) continue
      const newer = mine.joined_at > seat.joined_at || (mine.joined_at === seat.joined_at && this.options.me > seat.user)
      if (newer && seat.connected) this.create(seat).start()
    }
    this.applyProfile()
    this.options.changed()
  }

  /** After our own fresh join (the old seat was gone): every connection starts over. */
  restartAll(participants: Participant[]): void {
    for (const user of [...this.peers.keys()]) this.drop(user)
    this.reconcile(participants)
  }

  handle(user: number, conn: number, data: CallSignal): void {
    let peer = this.peers.get(user)
    if (!peer) {
      const seat = this.seats.get(user)
      if (!seat || data.kind === 'candidate') return // stale: not in the call we know
      peer = this.create({ ...seat, conn })
    }
    peer.conn = conn
    peer.handle(data)
  }

  restartFailed(): void {
    for (const peer of this.peers.values()) {
      const state = peer.pc.iceConnectionState
      if (state === 'failed' || state === 'disconnected') peer.restartIce()
    }
  }

  setMuted(muted: boolean): void {
    for (const track of this.media.camera.getAudioTracks()) track.enabled = !muted
  }

  /** Swaps in a new microphone or camera track (device change, camera back on). */
  replaceTrack(track: MediaStreamTrack): void {
    const camera = this.media.camera
    for (const old of track.kind === 'audio' ? camera.getAudioTracks() : camera.getVideoTracks()) {
      camera.removeTrack(old)
      if (old !== track) {
        track.enabled = old.enabled
        old.stop()
      }
    }
    camera.addTrack(track)
    if (track.kind === 'video') this.cameraOn = true
    this.sync()
  }

  cameraOff(): void {
    for (const track of this.media.camera.getVideoTracks()) {
      track.stop()
      this.media.camera.removeTrack(track)
    }
    this.cameraOn = false
    this.sync()
  }

  /** A screen, window or canvas as its own stream; null stops sharing. */
  setScreen(stream: MediaStream | null, label = ''): void {
    // Sharp, not smooth: the encoder then keeps the resolution and never drops the first
    // frames as too big for a new link's low start bitrate (in an audio-only call). A
    // canvas stream sends frames only when it is drawn on: a dropped one is not resent.
    for (const track of stream?.getVideoTracks() ?? []) if (!track.contentHint) track.contentHint = 'detail'
    this.media.screen = stream
    this.screenLabel = label
    this.sync()
  }

  close(): void {
    clearInterval(this.statsTimer)
    for (const user of [...this.peers.keys()]) this.drop(user)
  }

  private sync(): void {
    this.describeStreams()
    this.applyProfile()
    for (const peer of this.peers.values()) peer.syncTracks()
    this.options.changed()
  }

  private describeStreams(): void {
    const streams: StreamMap = { [this.media.camera.id]: { role: 'camera', label: '' } }
    if (this.media.screen) streams[this.media.screen.id] = { role: 'screen', label: this.screenLabel }
    this.media.streams = streams
  }

  private create(seat: Participant): Peer {
    const user = seat.user
    const peer = new Peer(
      user,
      seat.conn,
      seat.joined_at,
      isPolite(this.options.me, user),
      this.options.config,
      () => this.media,
      {
        signal: (data) => {
          const target = this.peers.get(user)
          if (target) this.options.send(target.conn, { call: this.options.callId, ...data } as CallSignal)
        },
        changed: () => this.options.changed(),
        sending: () => this.limitVideo(peer),
      },
    )
    this.peers.set(user, peer)
    return peer
  }

  private drop(user: number): void {
    this.peers.get(user)?.close()
    this.peers.delete(user)
    this.stats.delete(user)
    this.lastLoss.delete(user)
  }

  /** Resolution, frame rate and bitrate for the mesh's size; no camera past six people. */
  private applyProfile(): void {
    const profile = videoProfile(this.participantCount)
    const sendVideo = this.cameraOn && profile.video
    if (sendVideo !== this.media.sendVideo) {
      this.media.sendVideo = sendVideo
      for (const peer of this.peers.values()) peer.syncTracks()
    }
    for (const peer of this.peers.values()) this.limitVideo(peer)
  }

  /** The camera sender of one peer at the profile's size, rate and bitrate. */
  private limitVideo(peer: Peer): void {
    const sender = peer.cameraSender
    if (peer.closed || !sender || !sender.track) return
    const profile = videoProfile(this.participantCount)
    const params = sender.getParameters()
    const encoding = params.encodings?.[0]
    if (!encoding) return // not negotiated yet: applied again when the link comes up
    const scale = scaleFor(sender.track.getSettings().height, profile)
    if (encoding.maxBitrate === profile.maxBitrate && encoding.scaleResolutionDownBy === scale) return
    encoding.maxBitrate = profile.maxBitrate
    encoding.maxFramerate = profile.frameRate
    encoding.scaleResolutionDownBy = scale
    void sender.setParameters(params).catch(() => undefined)
  }

  private async sampleStats(): Promise<void> {
    for (const [user, peer] of this.peers) {
      if (peer.closed) continue
      let report: RTCStatsReport
      try {
        report = await peer.pc.getStats()
      } catch {
        continue
      }
      const entry: PeerStats = { quality: 'unknown', route: '', framesDecoded: 0, framesByTrack: {}, audioSamples: 0, audioLevel: 0 }
      let lost = 0
      let received = 0
      let rttMs: number | null = null
      let localCandidate = ''
      let selectedPair = ''
      const candidates = new Map<string, string>()
      report.forEach((s: Record<string, unknown>) => {
        if (s.type === 'inbound-rtp') {
          lost += Number(s.packetsLost ?? 0)
          received += Number(s.packetsReceived ?? 0)
          if (s.kind === 'video') {
            const frames = Number(s.framesDecoded ?? 0)
            entry.framesDecoded += frames
            const track = String(s.trackIdentifier ?? '')
            entry.framesByTrack[track] = (entry.framesByTrack[track] ?? 0) + frames
          }
          if (s.kind === 'audio') {
            entry.audioSamples += Number(s.totalSamplesReceived ?? 0)
            entry.audioLevel = Math.max(entry.audioLevel, Number(s.audioLevel ?? 0))
          }
        } else if (s.type === 'transport' && s.selectedCandidatePairId) {
          selectedPair = String(s.selectedCandidatePairId)
        } else if (s.type === 'local-candidate') {
          candidates.set(String(s.id), String(s.candidateType ?? ''))
        }
      })
      // The pair in use is the transport's selected one; a nominated, succeeded pair is the
      // fallback where a browser does not say (it may not be flagged yet while media flows).
      const pairs = [...report.values()].filter((s: Record<string, unknown>) => s.type === 'candidate-pair')
      const pair = pairs.find((s: Record<string, unknown>) => s.id === selectedPair)
        ?? pairs.find((s: Record<string, unknown>) => s.nominated && s.state === 'succeeded')
      if (pair) {
        if (typeof pair.currentRoundTripTime === 'number') rttMs = pair.currentRoundTripTime * 1000
        localCandidate = String(pair.localCandidateId ?? '')
      }
      entry.route = candidates.get(localCandidate) ?? ''
      const before = this.lastLoss.get(user) ?? { lost: 0, received: 0 }
      this.lastLoss.set(user, { lost, received })
      entry.quality = linkQuality({ rttMs, lost: lost - before.lost, received: received - before.received })
      this.stats.set(user, entry)
    }
    if (this.peers.size > 0) this.options.changed()
  }
}
