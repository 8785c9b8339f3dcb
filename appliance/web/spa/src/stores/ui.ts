import { defineStore } from 'pinia'
import { ref } from 'vue'
import type { RoomId } from '@/api/types'

const LAST_ROOM = 'pychat.lastRoom'

/** Layout state that several views share. */
export const useUiStore = defineStore('ui', () => {
  const sidebarOpen = ref(false)
  const dialog = ref<'new-channel' | 'new-private' | 'new-direct' | 'room-settings' | null>(null)

  function lastRoom(): RoomId | null {
    const value = Number(localStorage.getItem(LAST_ROOM))
    return Number.isInteger(value) && value > 0 ? value : null
  }

  function visited(room: RoomId): void {
    localStorage.setItem(LAST_ROOM, String(room))
    sidebarOpen.value = false
  }

  return { sidebarOpen, dialog, lastRoom, visited }
})
