// The calls of this user's rooms, the ring on this device, and this device's own call.
import { defineStore } from 'pinia'
import { computed, markRaw, reactive, ref, shallowRef, toRaw } from 'vue'
import { http } from '@/api/http'
import type { RoomId, UserId } from '@/api/types'
import { useRoomsStore } from '@/stores/rooms'
import { useSessionStore } from '@/stores/session'
import { useSyncStore } from '@/stores/sync'
import type { FeatureChannel, FeatureFrame } from '@/sync/featureChannel'
import { Ringer, SpeakingMeter } from './audio'
import { captureCamera, captureLocal, captureMicrophone, captureScreen, loadDeviceChoice, saveDeviceChoice, stopStream, type DeviceChoice } from './media'
import { Mesh, type PeerStats } from './mesh'
import { MAX_VIDEO_PARTICIPANTS } from './profile'
import type { Call, CallSignal, Participant, Ring, RingStopReason, StreamRole, TurnCredentials } from './types'

export interface Tile {
  key: string
  user: UserId
  role: StreamRole
  label: string
  stream: MediaStream | null
  local: boolean
  seat: Participant | null
  stats: PeerStats | null
  /** Video frames decoded from this tile's stream (0 for our own tiles). */
  frames: number
}

function framesOf(stream: MediaStream | null, stats: PeerStats | null): number {
  if (!stream || !stats) return 0
  return stream.getVideoTracks().reduce((sum, t) => sum + (stats.framesByTrack[t.id] ?? 0), 0)
}

interface ActiveCall {
  room: RoomId
  callId: number
  conn: number
  /** Someone else was in the call with us at some point (a DM call ends when they go). */
  hadCompany: boolean
}

function testHooks(): { relayOnly?: boolean } {
  return (globalThis as { __pychatTest?: { relayOnly?: boolean } }).__pychatTest ?? {}
}

export const useCallsStore = defineStore('calls', () => {
  const sync = useSyncStore()
  const session = useSessionStore()
  const rooms = useRoomsStore()
  // The raw channel: its methods read their own refs, which the store's proxy would unwrap.
  const channel = toRaw(sync.channel) as unknown as FeatureChannel

  const calls = reactive<Record<RoomId, Call>>({})
  const ring = ref<Ring | null>(null)
  const lastRingEnd = ref<{ room: RoomId; reason: RingStopReason } | null>(null)
  const active = ref<ActiveCall | null>(null)
  const joining = ref(false)
  const error = ref('')
  const muted = ref(false)
  const cameraOn = ref(false)
  const screenOn = ref(false)
  const view = ref<'grid' | 'speaker'>('grid')
  const speaking = reactive<Record<string, boolean>>({})
  /** Bumped when the mesh changes (streams, stats): tiles recompute from it. */
  const version = ref(0)
  const mesh = shallowRef<Mesh | null>(null)
  const devices = ref<DeviceChoice>(loadDeviceChoice())
  const ringer = new Ringer()
  const ringback = new Ringer()
  const meter = new SpeakingMeter((key, on) => {
    if (speaking[key] !== on) speaking[key] = on
  })
  let started = false

  const activeCall = computed(() => (active.value ? (calls[active.value.room] ?? null) : null))

  function callIn(room: RoomId): Call | null {
    return calls[room] ?? null
  }

  function init(): void {
    if (started) return
    started = true
    channel.on('rtc.', receive)
    channel.onReady((conn) => void ready(conn))
  }

  /** After each hello: learn the running calls, and take our seat back after a reconnect. */
  async function ready(conn: number): Promise<void> {
    const current = active.value
    if (current && current.conn !== conn) {
      try {
        const reply = await channel.request<{ call: Call; replaced: boolean }>({
          type: 'rtc.call.join',
          room: current.room,
          audio: true,
          video: cameraOn.value,
          replaces: current.conn,
        })
        current.conn = conn
        setCall(reply.call.room, reply.call)
        if (!reply.replaced) mesh.value?.restartAll(reply.call.participants)
        else mesh.value?.restartFailed()
      } catch {
        teardown()
      }
    }
    try {
      const reply = await channel.request<{ calls: Call[] }>({ type: 'rtc.calls' })
      const seen = new Set(reply.calls.map((c) => c.room))
      for (const room of Object.keys(calls).map(Number)) if (!seen.has(room)) setCall(room, null)
      for (const call of reply.calls) setCall(call.room, call)
      const me = session.userId
      const rung = reply.calls.find((c) => me !== null && c.ringing.includes(me))
      if (rung && !active.value && !ring.value) {
        showRing({ room: rung.room, call: rung, from: rung.started_by, video: false })
      }
    } catch {
      /* the next reconnect tries again */
    }
  }

  function receive(frame: FeatureFrame): void {
    switch (frame.type) {
      case 'rtc.call':
        setCall(frame.room as RoomId, (frame.call as Call | null) ?? null)
        break
      case 'rtc.ring':
        if (!active.value) showRing(frame as unknown as Ring)
        break
      case 'rtc.ring.stop':
        if (ring.value?.room === frame.room) {
          lastRingEnd.value = { room: frame.room as RoomId, reason: frame.reason as RingStopReason }
          hideRing()
        }
        break
      case 'rtc.signal': {
        const data = frame.data as CallSignal | undefined
        const current = active.value
        if (!current || !data || data.call !== current.callId || frame.room !== current.room) return
        mesh.value?.handle(frame.user as number, frame.from as number, data)
        break
      }
    }
  }

  function setCall(room: RoomId, call: Call | null): void {
    if (call) calls[room] = call
    else delete calls[room]
    if (ring.value?.room === room && (!call || !call.ringing.includes(session.userId ?? -1))) hideRing()
    const current = active.value
    if (!current || current.room !== room) return
    const mine = call?.participants.find((p) => p.user === session.userId)
    // Our seat is on our old socket until `replaces` moves it to this one (its frame comes
    // before the join's reply); on any other socket it moved to another device.
    if (!call || !mine || (mine.conn !== current.conn && mine.conn !== channel.connId.value)) {
      teardown() // ended, or our seat moved to another device
      return
    }
    current.conn = mine.conn
    current.callId = call.id
    if (call.participants.length > 1) current.hadCompany = true
    mesh.value?.reconcile(call.participants)
    const alone = call.participants.length === 1 && call.ringing.length === 0
    if (alone && current.hadCompany && rooms.byId[room]?.kind === 'direct') void leave()
    if (call.participants.length === 1 && call.ringing.length > 0) ringback.start('outgoing')
    else ringback.stop()
  }

  function showRing(next: Ring): void {
    ring.value = next
    ringer.start('incoming')
  }

  function hideRing(): void {
    ring.value = null
    ringer.stop()
  }

  async function iceConfig(): Promise<RTCConfiguration> {
    const config: RTCConfiguration = { iceServers: [] }
    try {
      const turn = await http.get<TurnCredentials>('/api/turn')
      if (turn.urls.length > 0) {
        config.iceServers = [{ urls: turn.urls, username: turn.username, credential: turn.credential }]
      }
    } catch {
      /* no TURN: direct connections only, as on most office LANs */
    }
    if (testHooks().relayOnly) config.iceTransportPolicy = 'relay'
    return config
  }

  /** Start the room's call, or join the one running there. */
  async function join(room: RoomId, options: { audio?: boolean; video: boolean }): Promise<void> {
    if (joining.value) return
    const conn = channel.connId.value
    const me = session.userId
    if (conn === null || me === null) {
      error.value = 'Not connected.'
      return
    }
    joining.value = true
    error.value = ''
    hideRing()
    let local: MediaStream | null = null
    try {
      if (active.value && active.value.room !== room) await leave()
      const [config, stream] = await Promise.all([iceConfig(), captureLocal(options.audio ?? true, options.video)])
      local = stream
      const reply = await channel.request<{ call: Call; replaced: boolean }>({
        type: 'rtc.call.join',
        room,
        audio: stream.getAudioTracks().length > 0,
        video: stream.getVideoTracks().length > 0,
      })
      cameraOn.value = stream.getVideoTracks().length > 0
      muted.value = false
      active.value = { room, callId: reply.call.id, conn, hadCompany: false }
      mesh.value = markRaw(
        new Mesh(
          {
            me,
            callId: reply.call.id,
            config,
            send: (to, data) => channel.send({ type: 'rtc.signal', room, to, data }),
            changed: () => version.value++,
          },
          stream,
        ),
      )
      setCall(room, reply.call)
      meter.watch(`local:${me}`, stream)
    } catch (e) {
      console.error('calls: join failed', e)
      if (active.value?.room === room) await leave()
      else stopStream(local)
      error.value = e instanceof Error ? e.message : 'Could not join the call.'
    } finally {
      joining.value = false
    }
  }

  async function accept(video: boolean): Promise<void> {
    const current = ring.value
    if (current) await join(current.room, { video })
  }

  async function decline(): Promise<void> {
    const current = ring.value
    hideRing()
    if (current) await channel.request({ type: 'rtc.call.decline', room: current.room }).catch(() => undefined)
  }

  async function leave(): Promise<void> {
    const current = active.value
    teardown()
    if (current) await channel.request({ type: 'rtc.call.leave', room: current.room }).catch(() => undefined)
  }

  function teardown(): void {
    ringback.stop()
    const m = mesh.value
    mesh.value = null
    active.value = null
    if (m) {
      m.close()
      stopStream(m.media.camera)
      stopStream(m.media.screen)
    }
    meter.stop()
    screenOn.value = false
    cameraOn.value = false
    version.value++
  }

  function announce(): void {
    const current = active.value
    if (!current) return
    channel.send({
      type: 'rtc.call.update',
      room: current.room,
      audio: !muted.value,
      video: cameraOn.value,
      screen: screenOn.value,
    })
  }

  function toggleMute(): void {
    muted.value = !muted.value
    mesh.value?.setMuted(muted.value)
    announce()
  }

  async function toggleCamera(): Promise<void> {
    const m = mesh.value
    if (!m) return
    try {
      if (cameraOn.value) m.cameraOff()
      else {
        const track = await captureCamera()
        if (track) m.replaceTrack(track)
      }
      cameraOn.value = m.cameraOn
    } catch (e) {
      error.value = e instanceof Error ? e.message : 'The camera could not start.'
    }
    announce()
  }

  /** Shares a stream's video as its own track (a screen, or the painter's canvas). */
  function shareStream(stream: MediaStream, label: string): void {
    const m = mesh.value
    if (!m) throw new Error('Not in a call.')
    const previous = m.media.screen
    m.setScreen(stream, label)
    if (previous && previous !== stream) stopStream(previous)
    screenOn.value = true
    stream.getVideoTracks()[0]?.addEventListener('ended', () => {
      if (mesh.value?.media.screen === stream) stopSharing()
    })
    announce()
  }

  async function toggleScreen(): Promise<void> {
    if (screenOn.value) {
      stopSharing()
      return
    }
    try {
      shareStream(await captureScreen(), 'Screen')
    } catch (e) {
      if (!(e instanceof DOMException && e.name === 'NotAllowedError')) {
        error.value = e instanceof Error ? e.message : 'Screen sharing could not start.'
      }
    }
  }

  function stopSharing(): void {
    const m = mesh.value
    const stream = m?.media.screen ?? null
    m?.setScreen(null)
    stopStream(stream)
    screenOn.value = false
    announce()
  }

  async function chooseDevice(kind: keyof DeviceChoice, deviceId: string): Promise<void> {
    devices.value = { ...devices.value, [kind]: deviceId }
    saveDeviceChoice(devices.value)
    const m = mesh.value
    if (!m) return
    try {
      if (kind === 'audioinput') {
        const track = await captureMicrophone()
        if (track) m.replaceTrack(track)
        m.setMuted(muted.value)
        if (session.userId !== null) meter.watch(`local:${session.userId}`, m.media.camera)
      } else if (kind === 'videoinput' && cameraOn.value) {
        const track = await captureCamera()
        if (track) m.replaceTrack(track)
      }
    } catch (e) {
      error.value = e instanceof Error ? e.message : 'That device could not start.'
    }
  }

  /** The tiles of the call: each person's camera (or avatar), and every shared screen. */
  const tiles = computed<Tile[]>(() => {
    void version.value
    const call = activeCall.value
    const m = mesh.value
    const me = session.userId
    if (!call || !m || me === null) return []
    const list: Tile[] = []
    for (const seat of call.participants) {
      if (seat.user === me) {
        list.push({ key: `local:${me}`, user: me, role: 'camera', label: '', stream: m.media.camera, local: true, seat, stats: null, frames: 0 })
        if (m.media.screen) {
          list.push({ key: `local-screen:${me}`, user: me, role: 'screen', label: 'Your screen', stream: m.media.screen, local: true, seat, stats: null, frames: 0 })
        }
        continue
      }
      const peer = m.peers.get(seat.user)
      const stats = m.stats.get(seat.user) ?? null
      let camera: MediaStream | null = null
      const screens: Tile[] = []
      for (const [id, stream] of peer?.remoteStreams ?? []) {
        const role = peer?.remoteRoles[id]
        if (role?.role === 'screen') {
          screens.push({ key: `screen:${seat.user}:${id}`, user: seat.user, role: 'screen', label: role.label, stream, local: false, seat, stats, frames: framesOf(stream, stats) })
        } else camera = stream
      }
      list.push({ key: `peer:${seat.user}`, user: seat.user, role: 'camera', label: '', stream: camera, local: false, seat, stats, frames: framesOf(camera, stats) })
      list.push(...screens)
    }
    return list
  })

  function watchSpeaking(key: string, stream: MediaStream | null): void {
    if (stream) meter.watch(key, stream)
    else meter.unwatch(key)
  }

  const audioOnly = computed(() => (activeCall.value?.participants.length ?? 0) > MAX_VIDEO_PARTICIPANTS)

  return {
    calls,
    ring,
    lastRingEnd,
    active,
    activeCall,
    joining,
    error,
    muted,
    cameraOn,
    screenOn,
    view,
    speaking,
    tiles,
    devices,
    audioOnly,
    init,
    callIn,
    join,
    accept,
    decline,
    leave,
    toggleMute,
    toggleCamera,
    toggleScreen,
    shareStream,
    stopSharing,
    chooseDevice,
    watchSpeaking,
  }
})
