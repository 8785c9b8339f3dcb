// One RTCPeerConnection to one participant, negotiated with the perfect-negotiation pattern
// (https://w3c.github.io/webrtc-pc/#perfect-negotiation-example) so that renegotiation
// (screen sharing, camera on) and ICE restarts from either side never glare.
import type { CallSignal, StreamMap } from './types'

type Outgoing =
  | { kind: 'offer' | 'answer'; sdp: string; streams: StreamMap }
  | { kind: 'candidate'; candidate: RTCIceCandidateInit | null }
  | { kind: 'restart' }
  | { kind: 'streams'; streams: StreamMap }

/** What this device sends, owned by the mesh and shared by every peer. */
export interface LocalMedia {
  camera: MediaStream
  /** false: the camera track is withheld (camera off, or too many people for video). */
  sendVideo: boolean
  screen: MediaStream | null
  streams: StreamMap
}

export interface PeerEvents {
  signal(data: Outgoing): void
  /** Remote streams or their roles changed. */
  changed(): void
  /** Our senders changed, or the link came up: time to (re)apply the video profile. */
  sending(): void
}

const DISCONNECTED_GRACE_MS = 4000

export class Peer {
  readonly pc: RTCPeerConnection
  readonly remoteStreams = new Map<string, MediaStream>()
  remoteRoles: StreamMap = {}
  private makingOffer = false
  private ignoreOffer = false
  private settingRemoteAnswer = false
  private audioSender: RTCRtpSender | null = null
  private videoSender: RTCRtpSender | null = null
  private screenSender: RTCRtpSender | null = null
  private queue: Promise<void> = Promise.resolve()
  private disconnectedTimer: ReturnType<typeof setTimeout> | null = null
  closed = false

  constructor(
    readonly user: number,
    public conn: number,
    readonly joinedAt: number,
    readonly polite: boolean,
    config: RTCConfiguration,
    private readonly local: () => LocalMedia,
    private readonly events: PeerEvents,
  ) {
    this.pc = new RTCPeerConnection(config)
    this.pc.onnegotiationneeded = () => void this.offer()
    this.pc.onicecandidate = ({ candidate }) => {
      this.events.signal({ kind: 'candidate', candidate: candidate ? candidate.toJSON() : null })
    }
    this.pc.ontrack = (event) => this.gotTrack(event)
    this.pc.oniceconnectionstatechange = () => this.iceStateChanged()
  }

  /** The side that joined later calls this at once; the other side waits for the offer. */
  start(): void {
    this.syncTracks()
  }

  /** Makes the senders match the local media (adding, replacing or removing tracks). */
  syncTracks(): void {
    if (this.closed) return
    const media = this.local()
    const audio = media.camera.getAudioTracks()[0] ?? null
    const video = media.sendVideo ? (media.camera.getVideoTracks()[0] ?? null) : null
    if (audio) {
      if (!this.audioSender) this.audioSender = this.pc.addTrack(audio, media.camera)
      else if (this.audioSender.track !== audio) void this.audioSender.replaceTrack(audio)
    }
    if (this.videoSender) {
      if (this.videoSender.track !== video) void this.videoSender.replaceTrack(video)
    } else if (video) {
      this.videoSender = this.pc.addTrack(video, media.camera)
    }
    const screenTrack = media.screen?.getVideoTracks()[0] ?? null
    if (this.screenSender && (!screenTrack || !media.screen)) {
      this.pc.removeTrack(this.screenSender)
      this.screenSender = null
    }
    if (screenTrack && media.screen) {
      if (!this.screenSender) this.screenSender = this.pc.addTrack(screenTrack, media.screen)
      else if (this.screenSender.track !== screenTrack) void this.screenSender.replaceTrack(screenTrack)
    }
    this.events.signal({ kind: 'streams', streams: media.streams })
    this.events.sending()
  }

  get cameraSender(): RTCRtpSender | null {
    return this.videoSender
  }

  handle(data: CallSignal): void {
    // One at a time: descriptions and candidates must apply in the order they came.
    this.queue = this.queue.then(() => this.apply(data)).catch(() => undefined)
  }

  restartIce(): void {
    if (this.closed) return
    if (this.polite) this.events.signal({ kind: 'restart' })
    else this.pc.restartIce()
  }

  close(): void {
    this.closed = true
    if (this.disconnectedTimer !== null) clearTimeout(this.disconnectedTimer)
    this.pc.onnegotiationneeded = null
    this.pc.onicecandidate = null
    this.pc.ontrack = null
    this.pc.oniceconnectionstatechange = null
    this.pc.close()
  }

  private async offer(): Promise<void> {
    if (this.closed) return
    try {
      this.makingOffer = true
      await this.pc.setLocalDescription()
      const sdp = this.pc.localDescription
      if (sdp) this.events.signal({ kind: 'offer', sdp: sdp.sdp, streams: this.local().streams })
    } catch {
      // A rollback or a closed connection: the next negotiationneeded tries again.
    } finally {
      this.makingOffer = false
    }
  }

  private async apply(data: CallSignal): Promise<void> {
    if (this.closed) return
    switch (data.kind) {
      case 'offer':
      case 'answer': {
        if (typeof data.sdp !== 'string') return
        const description: RTCSessionDescriptionInit = { type: data.kind, sdp: data.sdp }
        const readyForOffer =
          !this.makingOffer && (this.pc.signalingState === 'stable' || this.settingRemoteAnswer)
        const collision = description.type === 'offer' && !readyForOffer
        this.ignoreOffer = !this.polite && collision
        if (this.ignoreOffer) return
        this.settingRemoteAnswer = description.type === 'answer'
        await this.pc.setRemoteDescription(description)
        this.settingRemoteAnswer = false
        this.setRoles(data.streams)
        if (description.type === 'offer') {
          // After the offer, so our tracks reuse its transceivers instead of adding more.
          this.syncTracks()
          await this.pc.setLocalDescription()
          const sdp = this.pc.localDescription
          if (sdp) this.events.signal({ kind: 'answer', sdp: sdp.sdp, streams: this.local().streams })
        }
        break
      }
      case 'candidate':
        try {
          await this.pc.addIceCandidate(data.candidate ?? undefined)
        } catch (error) {
          if (!this.ignoreOffer) throw error
        }
        break
      case 'restart':
        this.pc.restartIce()
        break
      case 'streams':
        this.setRoles(data.streams)
        break
    }
  }

  private setRoles(streams: StreamMap | undefined): void {
    if (!streams || typeof streams !== 'object') return
    this.remoteRoles = streams
    for (const id of [...this.remoteStreams.keys()]) {
      if (!(id in streams)) this.remoteStreams.delete(id)
    }
    this.events.changed()
  }

  private gotTrack(event: RTCTrackEvent): void {
    const stream = event.streams[0] ?? new MediaStream([event.track])
    this.remoteStreams.set(stream.id, stream)
    stream.onremovetrack = () => {
      if (stream.getTracks().length === 0) this.remoteStreams.delete(stream.id)
      this.events.changed()
    }
    event.track.onunmute = () => this.events.changed()
    this.events.changed()
  }

  private iceStateChanged(): void {
    const state = this.pc.iceConnectionState
    if (this.disconnectedTimer !== null) clearTimeout(this.disconnectedTimer)
    this.disconnectedTimer = null
    if (state === 'connected') this.events.sending()
    if (state === 'failed') this.restartIce()
    else if (state === 'disconnected') {
      // Often recovers by itself (a brief Wi-Fi drop); restart only if it does not.
      this.disconnectedTimer = setTimeout(() => {
        if (this.pc.iceConnectionState === 'disconnected') this.restartIce()
      }, DISCONNECTED_GRACE_MS)
    }
    this.events.changed()
  }
}
