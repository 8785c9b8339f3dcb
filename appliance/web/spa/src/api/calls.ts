// Calls and peer-to-peer rooms: our TURN server's credentials, and Echo's test call.
import { http } from './http'
import type { Room } from './types'

/** Short-lived credentials for the built-in TURN server (docs/api/turn.md); no urls: no TURN. */
export interface TurnCredentials {
  urls: string[]
  username: string
  credential: string
  /** seconds the credentials stay valid */
  ttl: number
}

export const callsApi = {
  turn: () => http.get<TurnCredentials>('/api/turn'),
  /** The direct room with Echo, the bot that sends a call back to its caller. */
  testCall: () => http.post<{ room: Room }>('/api/test-call', {}),
}
