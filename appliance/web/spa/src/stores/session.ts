import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import { authApi, type ProfileChanges } from '@/api/auth'
import type { User } from '@/api/types'

export type SignInState = 'unknown' | 'signed-in' | 'signed-out'
export type Connection = 'connecting' | 'online' | 'offline'

const LAST_USER_KEY = 'pychat.lastUser'

/** Who is signed in, and how we are connected. */
export const useSessionStore = defineStore('session', () => {
  const user = ref<User | null>(null)
  const state = ref<SignInState>('unknown')
  const connection = ref<Connection>('connecting')
  /** The last hello finished: live events flow and the state is current. */
  const caughtUp = ref(false)
  const userId = computed(() => user.value?.id ?? null)

  function signedIn(who: User): void {
    user.value = who
    state.value = 'signed-in'
    try {
      localStorage.setItem(LAST_USER_KEY, JSON.stringify(who))
    } catch {
      /* storage full or disabled: the cache still has it */
    }
  }

  function signedOut(): void {
    user.value = null
    state.value = 'signed-out'
    caughtUp.value = false
    localStorage.removeItem(LAST_USER_KEY)
  }

  // Who the server said we are at start (the router's /api/me, or sign-in), handed once to
  // the reload that follows the first hello, which asked /api/me again moments later.
  let answer: { user: User; at: number } | null = null
  const ANSWER_FRESH_MS = 30_000

  /** Signed in as the server just answered. */
  function answeredByServer(who: User): void {
    signedIn(who)
    answer = { user: who, at: Date.now() }
  }

  /** That answer, once, while fresh; null otherwise (then ask the server). */
  function takeServerAnswer(): User | null {
    const taken = answer
    answer = null
    return taken && Date.now() - taken.at < ANSWER_FRESH_MS ? taken.user : null
  }

  /** The user we last saw signed in here, to open offline without asking the server. */
  function rememberedUser(): User | null {
    try {
      const text = localStorage.getItem(LAST_USER_KEY)
      return text ? (JSON.parse(text) as User) : null
    } catch {
      return null
    }
  }

  async function login(username: string, password: string): Promise<User> {
    const { user: who } = await authApi.login(username.trim().toLowerCase(), password)
    answeredByServer(who)
    return who
  }

  async function register(fields: {
    username: string
    password: string
    display_name?: string
    invite?: string
  }): Promise<User> {
    const { user: who } = await authApi.register({ ...fields, username: fields.username.trim().toLowerCase() })
    answeredByServer(who)
    return who
  }

  async function updateProfile(changes: ProfileChanges): Promise<User> {
    const { user: who } = await authApi.updateMe(changes)
    signedIn(who)
    return who
  }

  return {
    user,
    state,
    connection,
    caughtUp,
    userId,
    signedIn,
    answeredByServer,
    takeServerAnswer,
    signedOut,
    rememberedUser,
    login,
    register,
    updateProfile,
  }
})
