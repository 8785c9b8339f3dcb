// For other features (the painter): put a canvas or any stream into the current call.
import { useCallsStore } from './store'

/**
 * Shares `stream`'s video into the call this device is in, as its own track beside the
 * camera (peers see it as a screen tile named `label`). Replaces a screen being shared.
 * Throws when this device is in no call. `stopSharing()` ends it.
 */
export function shareStream(stream: MediaStream, label: string): void {
  useCallsStore().shareStream(stream, label)
}

export function stopSharing(): void {
  useCallsStore().stopSharing()
}

export function inCall(): boolean {
  return useCallsStore().active !== null
}
