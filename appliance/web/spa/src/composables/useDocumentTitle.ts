// "(3) #general · Pychat": unread count first, so it shows in a crowded tab bar.
import { watchEffect } from 'vue'
import { useRoute } from 'vue-router'
import { useRoomsStore } from '@/stores/rooms'

export function useDocumentTitle(): void {
  const rooms = useRoomsStore()
  const route = useRoute()
  watchEffect(() => {
    const unread = rooms.totalUnread
    const room = route.name === 'room' ? rooms.byId[Number(route.params.roomId)] : undefined
    const place = room ? (room.kind === 'direct' ? rooms.label(room) : `#${rooms.label(room)}`) : null
    const parts = [place, 'Pychat'].filter(Boolean).join(' · ')
    document.title = unread > 0 ? `(${unread}) ${parts}` : parts
  })
}
