// Notifications while the tab is hidden, for what her synced rule lets through (decide.ts),
// shown through the service worker (src/notifications/), closed once read on any device;
// the app badge.
import { onScopeDispose, watch } from 'vue'
import type { Router } from 'vue-router'
import type { Message } from '@/api/types'
import { showBadge } from '@/notifications/badge'
import { closeAllRead, closeReadUpTo } from '@/notifications/clear'
import { onNotificationClick } from '@/notifications/clicks'
import { notifyDecision } from '@/notifications/decide'
import { messagePayload } from '@/notifications/payload'
import { showMessageNotification } from '@/notifications/show'
import { useNotifySettingsStore } from '@/stores/notifySettings'
import { usePreferencesStore } from '@/stores/preferences'
import { useRoomsStore } from '@/stores/rooms'
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

/** A message missed while the socket was down notifies if it is younger than this. */
export const REPLAYED_STILL_NEWS_MS = 2 * 60_000

export function useNotifications(router: Router): void {
  const preferences = usePreferencesStore()
  const rooms = useRoomsStore()
  const users = useUsersStore()
  const session = useSessionStore()
  const sync = useSyncStore()
  const notifySettings = useNotifySettingsStore()
  const open = (url: string): void => void router.push(url)

  const stopMessages = sync.onMessage((message: Message, live: boolean) => {
    // Replayed after a reconnect (a phone's Wi-Fi came back): still news if it is recent.
    const news = live || Math.abs(Date.now() - message.created_at) < REPLAYED_STILL_NEWS_MS
    if (!news || !preferences.notifications || !notificationsSupported()) return
    if (Notification.permission !== 'granted' || document.visibilityState !== 'hidden') return
    const room = rooms.byId[message.room]
    // The person's synced rule (levels, mutes, keywords, do not disturb), as the server's.
    if (!room || !notifyDecision(message)) return
    const author = users.displayName(message.author)
    const title = room.kind === 'direct' ? author : `${author} in #${rooms.label(room)}`
    const body = notifySettings.effective.hide_text ? '' : notificationBody(message)
    const payload = messagePayload(message, title, body, rooms.totalUnread)
    void showMessageNotification(payload, open).catch(() => undefined)
  })

  // Read anywhere, closed everywhere: every device hears the user's read events.
  const stopEvents = sync.onEvent((event) => {
    if (event.kind === 'read' && event.room !== null && event.data.user === session.userId) {
      if (event.data.moved_back !== true) void closeReadUpTo(event.room, null, event.data.message).catch(() => undefined)
    } else if (event.kind === 'thread.read') {
      void closeReadUpTo(event.data.room, event.data.thread, event.data.message).catch(() => undefined)
    } else if (event.kind === 'member.leave' && event.room !== null && event.data.user === session.userId) {
      const left = event.room
      void closeAllRead((data) => data.room === left).catch(() => undefined)
    }
  })
  // Caught up after a reload of the state (no events replayed): close what it says is read.
  const stopCatchUp = watch(
    () => session.caughtUp,
    (caughtUp) => {
      if (!caughtUp) return
      void closeAllRead((data) => {
        const room = rooms.byId[data.room]
        return !room || (data.thread === null && (room.last_read_message_id ?? 0) >= data.message)
      }).catch(() => undefined)
    },
    { immediate: true },
  )

  const stopBadge = watch(() => rooms.totalUnread, (unread) => void showBadge(unread), { immediate: true })
  const stopClicks = onNotificationClick(open)

  onScopeDispose(() => {
    stopMessages()
    stopEvents()
    stopCatchUp()
    stopBadge()
    stopClicks()
    void showBadge(0) // signed out: nobody's count on the icon
  })
}
