// ICE servers for calls: our own TURN server's credentials (GET /api/turn).
import { callsApi } from '@/api/calls'

function testHooks(): { relayOnly?: boolean } {
  return (globalThis as { __pychatTest?: { relayOnly?: boolean } }).__pychatTest ?? {}
}

/** Fetched for each call: the credentials expire (hours), a call starts with fresh ones. */
export async function iceConfig(): Promise<RTCConfiguration> {
  const config: RTCConfiguration = { iceServers: [] }
  try {
    const turn = await callsApi.turn()
    if (turn.urls.length > 0) {
      config.iceServers = [{ urls: turn.urls, username: turn.username, credential: turn.credential }]
    }
  } catch {
    /* no TURN: direct connections only, as on most office LANs */
  }
  // Browser tests force relaying to show that our TURN server carries a whole call.
  if (testHooks().relayOnly) config.iceTransportPolicy = 'relay'
  return config
}
