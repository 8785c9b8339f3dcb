import { defineStore } from 'pinia'
import { ref, watch } from 'vue'
import type { RoomId } from '@/api/types'
import { mutedNow } from '@/notifications/policy'
import { useNotifySettingsStore } from './notifySettings'

export type Theme = 'light' | 'dark' | 'system'

const KEY = 'pychat.preferences'

interface Saved {
  theme: Theme
  notifications: boolean
  /** Rooms muted in this browser before mutes moved to the server; moved at the next load. */
  mutedRooms: RoomId[]
  recentEmoji: string[]
}

function load(): Partial<Saved> {
  try {
    return JSON.parse(localStorage.getItem(KEY) ?? '{}') as Partial<Saved>
  } catch {
    return {}
  }
}

const RECENT_EMOJI = 24

/** This browser's preferences: theme, desktop notifications on or off, recent emoji. What
 * notifies is on the server, the same on every device (stores/notifySettings.ts). */
export const usePreferencesStore = defineStore('preferences', () => {
  const saved = load()
  const theme = ref<Theme>(saved.theme ?? 'system')
  const notifications = ref(saved.notifications ?? false)
  const legacyMutedRooms = ref<RoomId[]>(saved.mutedRooms ?? [])
  const recentEmoji = ref<string[]>(saved.recentEmoji ?? ['👍', '❤️', '😂', '🎉', '👀', '🙏'])

  watch(
    [theme, notifications, legacyMutedRooms, recentEmoji],
    () => {
      const next: Saved = {
        theme: theme.value,
        notifications: notifications.value,
        mutedRooms: legacyMutedRooms.value,
        recentEmoji: recentEmoji.value,
      }
      localStorage.setItem(KEY, JSON.stringify(next))
    },
    { deep: true },
  )

  /** Whether nothing of this room notifies now: its level is "nothing" or it is muted (the
   * server's settings, stores/notifySettings.ts; the rule itself is notifications/policy.ts). */
  function isMuted(room: RoomId): boolean {
    const settings = useNotifySettingsStore().effective
    return settings.rooms[String(room)]?.level === 'nothing' || mutedNow(settings, room, Date.now())
  }

  function forgetLegacyMutedRooms(): void {
    legacyMutedRooms.value = []
  }

  function usedEmoji(emoji: string): void {
    recentEmoji.value = [emoji, ...recentEmoji.value.filter((e) => e !== emoji)].slice(0, RECENT_EMOJI)
  }

  return { theme, notifications, legacyMutedRooms, recentEmoji, isMuted, forgetLegacyMutedRooms, usedEmoji }
})
