import { defineStore } from 'pinia'
import { reactive } from 'vue'
import type { RoomId, UserId } from '@/api/types'

export const TYPING_SHOWN_MS = 5_000

/** Who is typing where: ephemeral, shown for about five seconds after each frame. */
export const useTypingStore = defineStore('typing', () => {
  const until = reactive<Record<RoomId, Record<UserId, number>>>({})

  function saw(room: RoomId, user: UserId, now = Date.now()): void {
    ;(until[room] ??= {})[user] = now + TYPING_SHOWN_MS
  }

  /** A message from them ends their typing at once. */
  function stopped(room: RoomId, user: UserId): void {
    const held = until[room]
    if (held) delete held[user]
  }

  function typists(room: RoomId, now = Date.now()): UserId[] {
    const held = until[room]
    if (!held) return []
    return Object.entries(held)
      .filter(([, t]) => t > now)
      .map(([u]) => Number(u))
  }

  function prune(now = Date.now()): void {
    for (const held of Object.values(until)) {
      for (const [user, t] of Object.entries(held)) if (t <= now) delete held[Number(user)]
    }
  }

  return { until, saw, stopped, typists, prune }
})
