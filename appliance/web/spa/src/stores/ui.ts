import { defineStore } from 'pinia'
import { ref, shallowRef } from 'vue'
import type { RoomId, UserId } from '@/api/types'

const LAST_ROOM = 'pychat.lastRoom'

/** Layout state that several views share. */
export const useUiStore = defineStore('ui', () => {
  const sidebarOpen = ref(false)
  const dialog = ref<'new-channel' | 'new-private' | 'new-direct' | 'room-settings' | null>(null)
  /** The profile card open (ProfileCard.vue), and what opened it: the focus goes back there. */
  const profileCard = shallowRef<{ userId: UserId; anchor: HTMLElement | null } | null>(null)

  function lastRoom(): RoomId | null {
    const value = Number(localStorage.getItem(LAST_ROOM))
    return Number.isInteger(value) && value > 0 ? value : null
  }

  function visited(room: RoomId): void {
    localStorage.setItem(LAST_ROOM, String(room))
    sidebarOpen.value = false
  }

  return { sidebarOpen, dialog, profileCard, lastRoom, visited }
})
