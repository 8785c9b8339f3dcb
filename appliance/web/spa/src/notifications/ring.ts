// An incoming call on the desktop or phone while the tab is hidden: shown through the service
// worker like messages (Android Chrome has no `new Notification()` in a page), kept until
// answered, and closed when the ring ends on any device.
import { activeRegistration } from '@/composables/useServiceWorker'
import { inTurn } from './inTurn'

const ICON = '/icons/icon-192.png'

export function ringTag(callId: number): string {
  return `call-${callId}`
}

/** Shows it; a click opens the call's room (sw.js reads `data.url`). */
export async function showRing(callId: number, room: number, title: string): Promise<void> {
  const registration = await activeRegistration()
  const options = { tag: ringTag(callId), icon: ICON, requireInteraction: true, data: { url: `/rooms/${room}` } }
  if (registration) {
    await inTurn(() => registration.showNotification(title, options))
  } else if ('Notification' in window) {
    const shown = new Notification(title, options)
    shown.onclick = () => {
      window.focus()
      shown.close()
    }
  }
}

export async function closeRing(callId: number): Promise<void> {
  const registration = await activeRegistration()
  if (!registration) return
  await inTurn(async () => {
    for (const shown of await registration.getNotifications({ tag: ringTag(callId) })) shown.close()
  })
}
