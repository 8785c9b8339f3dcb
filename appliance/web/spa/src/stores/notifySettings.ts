import { defineStore } from 'pinia'
import { computed, ref, watch } from 'vue'
import {
  notificationsApi,
  type NotifySettings,
  type PersonChanges,
  type RoomChanges,
  type RoomNotify,
} from '@/api/notifications'
import type { ChatEvent, RoomId } from '@/api/types'
import { defaultNotifySettings } from '@/notifications/policy'
import { usePreferencesStore } from './preferences'
import { useSessionStore } from './session'

type EventSource = (listener: (event: ChatEvent, live: boolean) => void) => () => void

// The last settings seen, so that the first messages after a reload are judged by them.
const KEY = 'pychat.notify'

function saved(user: number | null): NotifySettings | null {
  try {
    const found = JSON.parse(localStorage.getItem(KEY) ?? 'null') as { user: number; settings: NotifySettings } | null
    return found && found.user === user && typeof found.settings === 'object' ? found.settings : null
  } catch {
    return null
  }
}

/**
 * The signed-in person's notification settings, kept on the server and the same on every
 * device (docs/api.md, "Notification settings"): fetched after each (re)connect, followed
 * by her `notify.settings` / `notify.room` events, changed through the API.
 */
export const useNotifySettingsStore = defineStore('notifySettings', () => {
  const session = useSessionStore()
  const preferences = usePreferencesStore()
  const settings = ref<NotifySettings>(defaultNotifySettings())
  const loaded = ref(false)
  /** Bumped by every event: a fetch that started before one must not overwrite it. */
  let changes = 0
  let stopFollowing: (() => void) | null = null

  /**
   * The settings the rule applies: the server's, and rooms muted in this browser before
   * mutes moved to the server counted as "nothing" until they have been moved there.
   */
  const effective = computed<NotifySettings>(() => {
    const legacy = preferences.legacyMutedRooms
    if (!legacy.length) return settings.value
    const rooms = { ...settings.value.rooms }
    for (const room of legacy) {
      const own = rooms[String(room)]
      if (!own || own.level === null) rooms[String(room)] = { room, level: 'nothing', muted_until: own?.muted_until ?? null }
    }
    return { ...settings.value, rooms }
  })

  /** Her settings as they now are, kept in this browser too. */
  function put(value: NotifySettings): void {
    settings.value = value
    if (session.userId !== null) localStorage.setItem(KEY, JSON.stringify({ user: session.userId, settings: value }))
  }

  /** Starts following her events; fetches after every hello (so after a resync too). */
  function follow(onEvent: EventSource): void {
    stopFollowing?.()
    const kept = saved(session.userId)
    if (kept) settings.value = kept
    const stopEvents = onEvent((event) => received(event))
    const stopWatch = watch(
      () => session.caughtUp,
      (caughtUp) => {
        if (caughtUp) void load().catch(() => undefined)
      },
      { immediate: true },
    )
    stopFollowing = () => {
      stopEvents()
      stopWatch()
    }
  }

  async function load(): Promise<void> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const before = changes
      const { notifications } = await notificationsApi.get()
      if (before !== changes) continue // an event came meanwhile: ask again
      if (typeof notifications !== 'object' || notifications === null) return
      put(notifications)
      loaded.value = true
      await moveLegacyMutes()
      return
    }
  }

  function received(event: ChatEvent): void {
    if (event.kind === 'notify.settings') {
      changes++
      put({ ...event.data.notifications, rooms: settings.value.rooms })
    } else if (event.kind === 'notify.room') {
      changes++
      setRoom(event.data)
    }
  }

  function setRoom(own: RoomNotify): void {
    const rooms = { ...settings.value.rooms }
    if (own.level === null && own.muted_until === null) delete rooms[String(own.room)]
    else rooms[String(own.room)] = { ...own }
    put({ ...settings.value, rooms })
  }

  async function update(fields: PersonChanges): Promise<void> {
    put((await notificationsApi.update(fields)).notifications)
  }

  async function updateRoom(room: RoomId, fields: RoomChanges): Promise<void> {
    put((await notificationsApi.updateRoom(room, fields)).notifications)
  }

  /** Rooms muted in this browser before: set to "nothing" on the server, then forgotten. */
  async function moveLegacyMutes(): Promise<void> {
    const legacy = [...preferences.legacyMutedRooms]
    for (const room of legacy) {
      if (settings.value.rooms[String(room)]?.level == null) {
        try {
          await updateRoom(room, { level: 'nothing' })
        } catch {
          // A room she has left since (404): nothing to keep.
        }
      }
    }
    if (legacy.length) preferences.forgetLegacyMutedRooms()
  }

  function roomSetting(room: RoomId): RoomNotify {
    return settings.value.rooms[String(room)] ?? { room, level: null, muted_until: null }
  }

  /** Signed out: nobody's settings. */
  function reset(): void {
    stopFollowing?.()
    stopFollowing = null
    settings.value = defaultNotifySettings()
    loaded.value = false
    localStorage.removeItem(KEY)
  }

  return { settings, effective, loaded, follow, load, received, update, updateRoom, roomSetting, reset }
})
