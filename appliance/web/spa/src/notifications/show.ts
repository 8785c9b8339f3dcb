// Showing a message's notification through the service worker: Android Chrome has no
// `new Notification()` in a page, and only a worker's notifications carry actions and
// outlive the tab. The worker builds the same options for a Web Push (public/sw.js).
import { activeRegistration } from '@/composables/useServiceWorker'
import { inTurn } from './inTurn'
import type { MessagePayload, NotificationData } from './payload'

const ICON = '/icons/icon-192.png'
const BADGE = '/icons/favicon-32.png'

interface NotificationAction {
  action: string
  title: string
  type?: 'button' | 'text'
  placeholder?: string
}

/** What Chromium takes beyond TypeScript's lib.dom (actions, renotify, timestamp). */
export interface WorkerNotificationOptions extends NotificationOptions {
  renotify: boolean
  timestamp: number
  data: NotificationData
  actions: NotificationAction[]
}

export function notificationOptions(p: MessagePayload, now: number): WorkerNotificationOptions {
  return {
    body: p.body,
    tag: p.tag,
    renotify: true, // a new message replaces the room's notification and is heard again
    icon: ICON,
    badge: BADGE,
    timestamp: now,
    data: { room: p.room, thread: p.thread, message: p.message, url: p.url },
    actions: [
      // Where inline replies are missing the button opens the room (sw.js).
      { action: 'reply', type: 'text', title: 'Reply', placeholder: 'Reply…' },
      { action: 'read', title: 'Mark as read' },
    ],
  }
}

/** Shows it through the service worker; without one (a development build, plain HTTP) a
 *  page notification where the browser has them, which a click brings back to `open`. */
export async function showMessageNotification(p: MessagePayload, open: (url: string) => void): Promise<void> {
  const registration = await activeRegistration()
  if (registration) {
    await inTurn(() => registration.showNotification(p.title, notificationOptions(p, Date.now())))
    return
  }
  if (!('Notification' in window)) return
  const shown = new Notification(p.title, { body: p.body, tag: p.tag, icon: ICON })
  shown.onclick = () => {
    window.focus()
    open(p.url)
    shown.close()
  }
}
