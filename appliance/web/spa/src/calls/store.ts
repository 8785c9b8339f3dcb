// The calls of this user's rooms, the ring on this device, and this device's own call.
import { defineStore } from 'pinia'
import { computed, markRaw, reactive, ref, shallowRef, toRaw } from 'vue'
import type { RoomId, UserId } from '@/api/types'
import { useRoomsStore } from '@/stores/rooms'
import { useSessionStore } from '@/stores/session'
import { useSyncStore } from '@/stores/sync'
import type { FeatureChannel, FeatureFrame } from '@/sync/featureChannel'
import { Ringer, SpeakingMeter } from './audio'
import { mediaControls } from './controls'
import { captureLocal, loadDeviceChoice, stopStream, type DeviceChoice } from './media'
import { Mesh } from './mesh'
import { MAX_VIDEO_PARTICIPANTS } from './profile'
import { buildTiles, type Tile } from './tiles'
import { iceConfig } from './turn'
import type { Call, CallSignal, Ring, RingStopReason } from './types'

interface ActiveCall {
  room: RoomId
  callId: number
  conn: number
  /** Someone else was in the call with us at some point (a DM call ends when they go). */
  hadCompany: boolean
}

export type { Tile }

const NOTICE_MS = 8000

export const useCallsStore = defineStore('calls', () => {
  const sync = useSyncStore()
  const session = useSessionStore()
  const rooms = useRoomsStore()
  // The raw channel: its methods read their own refs, which the store's proxy would unwrap.
  const channel = toRaw(sync.channel) as unknown as FeatureChannel

  const calls = reactive<Record<RoomId, Call>>({})
  const ring = ref<Ring | null>(null)
  const lastRingEnd = ref<{ room: RoomId; reason: RingStopReason } | null>(null)
  /** Why our outgoing call ended unanswered ("No answer", "Declined", "Busy"), for a while. */
  const notice = ref<{ room: RoomId; text: string } | null>(null)
  let noticeTimer: ReturnType<typeof setTimeout> | null = null
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
        setCall(frame.room as RoomId, (frame.call as Call | null) ?? null, String(frame.reason ?? ''))
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

  function setCall(room: RoomId, call: Call | null, reason = ''): void {
    if (call) calls[room] = call
    else delete calls[room]
    if (ring.value?.room === room && (!call || !call.ringing.includes(session.userId ?? -1))) hideRing()
    const current = active.value
    if (!current || current.room !== room) return
    const mine = call?.participants.find((p) => p.user === session.userId)
    // Our seat is on our old socket until `replaces` moves it to this one (its frame comes
    // before the join's reply); on any other socket it moved to another device.
    if (!call || !mine || (mine.conn !== current.conn && mine.conn !== channel.connId.value)) {
      if (!call && !current.hadCompany && (reason === 'declined' || reason === 'unanswered')) {
        tell(room, reason === 'declined' ? 'Declined' : 'No answer')
      }
      if (!call && reason === 'shutdown') tell(room, 'The server is restarting: the call ended')
      teardown() // ended, or our seat moved to another device
      return
    }
    current.conn = mine.conn
    current.callId = call.id
    if (call.participants.length > 1) current.hadCompany = true
    mesh.value?.reconcile(call.participants)
    // A direct call ends when the other person hangs up, or cannot take it (busy).
    const alone = call.participants.length === 1 && call.ringing.length === 0
    if (alone && rooms.byId[room]?.kind === 'direct' && (current.hadCompany || call.busy.length > 0)) {
      if (!current.hadCompany) tell(room, 'Busy: already in another call')
      void leave()
    }
    if (call.participants.length === 1 && call.ringing.length > 0) ringback.start('outgoing')
    else ringback.stop()
  }

  function tell(room: RoomId, text: string): void {
    notice.value = { room, text }
    if (noticeTimer !== null) clearTimeout(noticeTimer)
    noticeTimer = setTimeout(() => (notice.value = null), NOTICE_MS)
  }

  function showRing(next: Ring): void {
    ring.value = next
    ringer.start('incoming')
  }

  function hideRing(): void {
    ring.value = null
    ringer.stop()
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

  /** Ring one member of the room into our call, on purpose (any room, even a channel). */
  async function ringMember(user: UserId): Promise<void> {
    const current = active.value
    if (!current) return
    error.value = ''
    try {
      const reply = await channel.request<{ call: Call }>({ type: 'rtc.call.ring', room: current.room, user })
      setCall(reply.call.room, reply.call)
    } catch (e) {
      error.value = e instanceof Error ? e.message : 'Could not ring them.'
    }
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

  const controls = mediaControls({ mesh, active, muted, cameraOn, screenOn, error, devices, meter, channel, me: () => session.userId })

  const tiles = computed<Tile[]>(() => {
    void version.value
    return buildTiles(activeCall.value, mesh.value, session.userId)
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
    notice,
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
    ringMember,
    leave,
    ...controls,
    watchSpeaking,
  }
})
