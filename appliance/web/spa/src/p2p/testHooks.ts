// Switches a browser test sets before the app loads (`window.__pychatTest`), so that it can
// receive without a save dialog, force TURN, or cut a transfer at a known point. Absent in
// normal use: every product path below is the real one.

export interface P2pTestHooks {
  /** Receive into the origin-private file system instead of asking for a place to save. */
  sink?: 'opfs'
  /** ICE over TURN only (`iceTransportPolicy: "relay"`). */
  relayOnly?: boolean
  /** The receiver closes a transfer's data channel once, after this many bytes. */
  breakAt?: number
  /** The receiver stops writing (so the sender stalls) after this many bytes. */
  stallAt?: number
  /** How long a finished card stays before it goes away on its own (ms). */
  finishedCardMs?: number
}

export function testHooks(): P2pTestHooks {
  return (globalThis as { __pychatTest?: P2pTestHooks }).__pychatTest ?? {}
}
