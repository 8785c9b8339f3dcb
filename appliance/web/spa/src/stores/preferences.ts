import { defineStore } from 'pinia'
import { reactive, ref, watch } from 'vue'
import type { RoomId } from '@/api/types'

export type Theme = 'light' | 'dark' | 'system'

const KEY = 'pychat.preferences'

interface Saved {
  theme: Theme
  notifications: boolean
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

/** This browser's preferences: theme, desktop notifications, recent emoji. */
export const usePreferencesStore = defineStore('preferences', () => {
  const saved = load()
  const theme = ref<Theme>(saved.theme ?? 'system')
  const notifications = ref(saved.notifications ?? false)
  const muted = reactive(new Set<RoomId>(saved.mutedRooms ?? []))
  const recentEmoji = ref<string[]>(saved.recentEmoji ?? ['👍', '❤️', '😂', '🎉', '👀', '🙏'])

  watch(
    [theme, notifications, () => [...muted], recentEmoji],
    () => {
      const next: Saved = {
        theme: theme.value,
        notifications: notifications.value,
        mutedRooms: [...muted],
        recentEmoji: recentEmoji.value,
      }
      localStorage.setItem(KEY, JSON.stringify(next))
    },
    { deep: true },
  )

  function isMuted(room: RoomId): boolean {
    return muted.has(room)
  }

  function setMuted(room: RoomId, on: boolean): void {
    if (on) muted.add(room)
    else muted.delete(room)
  }

  function usedEmoji(emoji: string): void {
    recentEmoji.value = [emoji, ...recentEmoji.value.filter((e) => e !== emoji)].slice(0, RECENT_EMOJI)
  }

  return { theme, notifications, muted, recentEmoji, isMuted, setMuted, usedEmoji }
})
