import { defineStore } from 'pinia'
import { computed, reactive, toRaw, watch } from 'vue'
import { usersApi } from '@/api/users'
import type { User, UserId } from '@/api/types'
import { compareText } from '@/composables/format'
import { useSessionStore } from './session'

/** What we can say of someone's presence: without our own socket we cannot know. */
export type Presence = 'online' | 'offline' | 'unknown'

/** The directory: every account, with presence. System accounts (Echo) are held so their
 * rooms have a name, but are never people: not in `active`, `search` or any picker. */
export const useUsersStore = defineStore('users', () => {
  const byId = reactive<Record<UserId, User>>({})
  const session = useSessionStore()

  const active = computed(() =>
    Object.values(byId)
      .filter((u) => !u.deactivated && !u.system)
      .sort((a, b) => compareText(displayName(a.id), displayName(b.id))),
  )

  /** Presence frames reach us only over our socket: while it is down, nobody's is known. */
  const presenceKnown = computed(() => session.connection === 'online')

  function presence(id: UserId): Presence {
    if (!presenceKnown.value) return 'unknown'
    return byId[id]?.online ? 'online' : 'offline'
  }

  function displayName(id: UserId): string {
    const user = byId[id]
    if (!user) return `user ${id}`
    return user.display_name || user.username
  }

  /** The directory as the server gave it. An unchanged person keeps her object: a reload
   * right after the first paint then draws nothing again (each message row reads its author). */
  function replaceAll(users: readonly User[]): void {
    const listed = new Set(users.map((user) => user.id))
    for (const id of Object.keys(byId)) if (!listed.has(Number(id))) delete byId[Number(id)]
    for (const user of users) {
      const held = byId[user.id]
      if (!held || JSON.stringify(toRaw(held)) !== JSON.stringify(user)) byId[user.id] = { ...user }
    }
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

  /** Presence changed while our socket was down is never replayed: ask for it again. */
  async function refreshPresence(): Promise<void> {
    const { users } = await usersApi.list()
    for (const user of users) {
      const held = byId[user.id]
      if (held) {
        held.online = user.online
        held.last_seen = user.last_seen ?? null
      }
    }
  }

  let wasOnline = false
  watch(
    () => session.connection,
    (now) => {
      if (now !== 'online') return
      if (wasOnline) void refreshPresence().catch(() => undefined) // back after a drop
      wasOnline = true
    },
  )

  return { byId, active, presenceKnown, presence, displayName, replaceAll, search, refreshPresence }
})
