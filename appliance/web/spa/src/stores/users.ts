import { defineStore } from 'pinia'
import { computed, reactive } from 'vue'
import type { User, UserId } from '@/api/types'

/** The directory: every account, with presence. */
export const useUsersStore = defineStore('users', () => {
  const byId = reactive<Record<UserId, User>>({})

  const active = computed(() =>
    Object.values(byId)
      .filter((u) => !u.deactivated)
      .sort((a, b) => displayName(a.id).localeCompare(displayName(b.id))),
  )

  function displayName(id: UserId): string {
    const user = byId[id]
    if (!user) return `user ${id}`
    return user.display_name || user.username
  }

  function replaceAll(users: readonly User[]): void {
    for (const id of Object.keys(byId)) delete byId[Number(id)]
    for (const user of users) byId[user.id] = { ...user }
  }

  /** People whose username or display name starts with (or contains) the text. */
  function search(text: string, limit = 8): User[] {
    const needle = text.toLowerCase()
    const starts: User[] = []
    const contains: User[] = []
    for (const user of active.value) {
      const name = user.display_name.toLowerCase()
      if (user.username.startsWith(needle) || name.startsWith(needle)) starts.push(user)
      else if (user.username.includes(needle) || name.includes(needle)) contains.push(user)
    }
    return [...starts, ...contains].slice(0, limit)
  }

  return { byId, active, displayName, replaceAll, search }
})
