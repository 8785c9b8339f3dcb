// Desktop notifications for mentions and direct messages while the tab is hidden.
import { onScopeDispose } from 'vue'
import type { Router } from 'vue-router'
import type { Message } from '@/api/types'
import { usePreferencesStore } from '@/stores/preferences'
import { useRoomsStore } from '@/stores/rooms'
import { mentionsUser } from '@/sync/reducer'
import { useSessionStore } from '@/stores/session'
import { useSyncStore } from '@/stores/sync'
import { useUsersStore } from '@/stores/users'

export function notificationsSupported(): boolean {
  return typeof window !== 'undefined' && 'Notification' in window
}

export async function askNotificationPermission(): Promise<boolean> {
  if (!notificationsSupported()) return false
  if (Notification.permission === 'granted') return true
  return (await Notification.requestPermission()) === 'granted'
}

function plainText(body: string): string {
  return body.replace(/[`*_~>#]/g, '').replace(/\s+/g, ' ').trim().slice(0, 160)
}

/** The text a notification shows: the message, or what it carries when it has no text. */
export function notificationBody(message: Message): string {
  const text = plainText(message.body)
  if (text) return text
  const files = message.attachments ?? []
  const first = files[0]
  if (!first) return ''
  if (files.length > 1) return `Sent ${files.length} files`
  const mime = first.mime
  if (mime.startsWith('audio/')) return 'Sent a voice message'
  if (mime.startsWith('video/')) return 'Sent a video'
  if (mime.startsWith('image/')) return 'Sent a picture'
  return `Sent ${first.name}`
}

export function useNotifications(router: Router): void {
  const preferences = usePreferencesStore()
  const rooms = useRoomsStore()
  const users = useUsersStore()
  const session = useSessionStore()
  const sync = useSyncStore()

  const stop = sync.onMessage((message: Message, live: boolean) => {
    if (!live || !preferences.notifications || !notificationsSupported()) return
    if (Notification.permission !== 'granted' || document.visibilityState !== 'hidden') return
    if (message.author === session.userId || preferences.isMuted(message.room)) return
    const room = rooms.byId[message.room]
    if (!room) return
    if (room.kind !== 'direct' && !mentionsUser(message, session.userId)) return
    const author = users.displayName(message.author)
    const title = room.kind === 'direct' ? author : `${author} in #${rooms.label(room)}`
    const notification = new Notification(title, {
      body: notificationBody(message),
      tag: `room-${room.id}`,
      icon: '/icons/icon-192.png',
    })
    notification.onclick = () => {
      window.focus()
      void router.push({ name: 'room', params: { roomId: room.id }, query: { message: message.id } })
      notification.close()
    }
  })
  onScopeDispose(stop)
}
