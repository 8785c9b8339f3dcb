import { adminApi } from '@/api/admin'

/**
 * A device in an office without internet has no clock source but the browsers that use it:
 * an admin's app tells it the time after every (re)connect, and the device sets its clock
 * from it only when NTP has not, only forward (docs/operations.md, "The clock").
 */
export function reportClockOnReady(
  channel: { onReady(listener: (connId: number) => void): () => void },
  isAdmin: () => boolean,
): () => void {
  return channel.onReady(() => {
    if (!isAdmin()) return
    // Best effort: an old server, a lost connection or a refusal changes nothing here.
    adminApi.reportClock(Date.now()).catch(() => undefined)
  })
}
