// The call objects and frames of docs/api/calls.md.
import type { RoomId, UserId } from '@/api/types'

export interface Participant {
  user: UserId
  conn: number
  audio: boolean
  video: boolean
  screen: boolean
  joined_at: number
  connected: boolean
}

export interface Call {
  id: number
  room: RoomId
  started_at: number
  started_by: UserId
  participants: Participant[]
  ringing: UserId[]
  declined: UserId[]
  busy: UserId[]
}

export interface Ring {
  room: RoomId
  call: Call
  from: UserId
  video: boolean
}

export type RingStopReason = 'answered' | 'declined' | 'timeout' | 'ended'

/** What a stream carries, told to peers alongside the SDP (msid keeps stream ids). */
export type StreamRole = 'camera' | 'screen'

/** `rtc.signal` data of a call. */
export type CallSignal =
  | { call: number; kind: 'offer' | 'answer'; sdp: string; streams?: StreamMap }
  | { call: number; kind: 'candidate'; candidate: RTCIceCandidateInit | null }
  | { call: number; kind: 'restart' }
  | { call: number; kind: 'streams'; streams: StreamMap }

export interface StreamMap {
  [streamId: string]: { role: StreamRole; label: string }
}

export type Quality = 'good' | 'fair' | 'poor' | 'unknown'
