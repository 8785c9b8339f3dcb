// What the call view shows: each person's camera (or avatar) and every shared screen.
import type { UserId } from '@/api/types'
import type { Mesh, PeerStats } from './mesh'
import type { Call, Participant, StreamRole } from './types'

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

export function buildTiles(call: Call | null, m: Mesh | null, me: UserId | null): Tile[] {
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
}
