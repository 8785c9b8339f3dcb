// Closing notifications once their message is read, on whichever device read it: every
// device hears the `read` (and its own `thread.read`) events and closes what they cover.
import type { MessageId, RoomId } from '@/api/types'
import { activeRegistration } from '@/composables/useServiceWorker'
import { inTurn } from './inTurn'
import { notificationData, roomTag, type NotificationData } from './payload'

/** Whether a marker of `room` (of `thread`, or of its timeline when null) covers it. */
export function coveredBy(data: NotificationData, room: RoomId, thread: MessageId | null, marker: MessageId): boolean {
  return data.room === room && data.thread === thread && data.message <= marker
}

async function closeWhere(tag: string | undefined, read: (data: NotificationData) => boolean): Promise<void> {
  const registration = await activeRegistration()
  if (!registration) return
  await inTurn(async () => {
    const shown = await registration.getNotifications(tag === undefined ? undefined : { tag })
    for (const notification of shown) {
      const data = notificationData(notification.data)
      if (data && read(data)) notification.close()
    }
  })
}

/** A marker moved (room timeline when `thread` is null, else that thread). */
export function closeReadUpTo(room: RoomId, thread: MessageId | null, marker: MessageId): Promise<void> {
  return closeWhere(roomTag(room), (data) => coveredBy(data, room, thread, marker))
}

/** After a reload of the state (resync, start): close whatever it says was read meanwhile. */
export function closeAllRead(read: (data: NotificationData) => boolean): Promise<void> {
  return closeWhere(undefined, read)
}
