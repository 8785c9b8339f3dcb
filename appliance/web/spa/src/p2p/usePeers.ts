// This tab's PeerManager, made once per app (a Pinia store, so tests get a fresh one).
import { defineStore } from 'pinia'
import { markRaw, toRaw } from 'vue'
import { useSyncStore } from '@/stores/sync'
import type { FeatureChannel } from '@/sync/featureChannel'
import { PeerManager } from './peers'
import { testHooks } from './testHooks'

const usePeerStore = defineStore('p2pPeers', () => {
  // The store's reactive proxy unwraps the channel's `connId` ref: use the instance itself.
  const channel = toRaw(useSyncStore().channel) as unknown as FeatureChannel
  const manager = markRaw(new PeerManager(channel))
  // A browser test reads the selected ICE routes (direct or relayed) from here.
  if (testHooks().sink !== undefined || testHooks().relayOnly) {
    ;(window as { __pychatPeers?: PeerManager }).__pychatPeers = manager
  }
  return { manager }
})

export function usePeers(): PeerManager {
  return usePeerStore().manager
}
