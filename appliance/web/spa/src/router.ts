import type { Pinia } from 'pinia'
import { createRouter, createWebHistory, type Router } from 'vue-router'
import { authApi } from './api/auth'
import { ApiError, dropPrefetched, onUnauthorized, takePrefetched } from './api/http'
import { warmUpWhileWaiting } from './composables/warmUp'
import { useSessionStore } from './stores/session'
import { useSyncStore } from './stores/sync'
import ChatLayout from './views/ChatLayout.vue'
import LoginView from './views/LoginView.vue'
import RoomView from './views/RoomView.vue'

// A request can fail for a moment while the network changes under the browser (Wi-Fi roaming,
// a VPN coming up: Chromium aborts it with ERR_NETWORK_CHANGED). With nobody remembered here
// to start offline with, asking again before deciding keeps a valid session from being sent
// to the sign-in page.
const ME_RETRY_DELAYS_MS = [250, 1000]

async function askWhoIsSignedIn(retry: boolean): ReturnType<typeof authApi.me> {
  // The question asked at boot (boot/bootFetches.ts), when it is still to be answered.
  const asked = takePrefetched<Awaited<ReturnType<typeof authApi.me>>>('/api/me')
  if (asked) {
    try {
      return await asked
    } catch (error) {
      if (!(retry && error instanceof ApiError && error.isNetwork)) throw error
    }
  }
  for (const delay of retry ? ME_RETRY_DELAYS_MS : []) {
    try {
      return await authApi.me()
    } catch (error) {
      if (!(error instanceof ApiError && error.isNetwork)) throw error
      await new Promise((resolve) => setTimeout(resolve, delay))
    }
  }
  return await authApi.me()
}

/** Who is signed in: the server when it answers, else the user we last saw here (offline). */
async function resolveSession(pinia: Pinia): Promise<void> {
  const session = useSessionStore(pinia)
  if (session.state !== 'unknown') return
  warmUpWhileWaiting()
  try {
    const { user } = await askWhoIsSignedIn(session.rememberedUser() === null)
    session.answeredByServer(user)
  } catch (error) {
    const remembered = session.rememberedUser()
    if (error instanceof ApiError && error.isNetwork && remembered) session.signedIn(remembered)
    else if (error instanceof ApiError && error.status >= 500 && remembered) session.signedIn(remembered)
    else session.signedOut()
  }
  if (session.user) await useSyncStore(pinia).start(session.user)
  else dropPrefetched() // the people and rooms asked at boot were refused
}

export function createAppRouter(pinia: Pinia): Router {
  const router = createRouter({
    history: createWebHistory(),
    routes: [
      { path: '/login', name: 'login', component: LoginView, meta: { public: true } },
      {
        path: '/register',
        name: 'register',
        component: () => import('./views/RegisterView.vue'),
        meta: { public: true },
      },
      {
        path: '/reset',
        name: 'reset',
        component: () => import('./views/ResetPasswordView.vue'),
        meta: { public: true },
      },
      {
        path: '/',
        component: ChatLayout,
        children: [
          { path: '', name: 'home', component: () => import('./views/HomeView.vue') },
          { path: 'rooms/:roomId(\\d+)', name: 'room', component: RoomView },
          { path: 'rooms/:roomId(\\d+)/board', name: 'board', component: () => import('./painter/BoardView.vue') },
          { path: 'browse', name: 'browse', component: () => import('./views/BrowseView.vue') },
          { path: 'search', name: 'search', component: () => import('./views/SearchView.vue') },
          { path: 'settings', name: 'settings', component: () => import('./views/SettingsView.vue') },
          {
            path: 'admin',
            component: () => import('./views/admin/AdminView.vue'),
            meta: { admin: true },
            children: [
              { path: '', name: 'admin', redirect: { name: 'admin-users' } },
              { path: 'users', name: 'admin-users', component: () => import('./views/admin/AdminUsers.vue') },
              { path: 'access', name: 'admin-access', component: () => import('./views/admin/AdminAccess.vue') },
              { path: 'device', name: 'admin-device', component: () => import('./views/admin/AdminDevice.vue') },
              { path: 'backups', name: 'admin-backups', component: () => import('./views/admin/AdminBackups.vue') },
              { path: 'mail', name: 'admin-mail', component: () => import('./views/admin/AdminMail.vue') },
              { path: 'logs', name: 'admin-logs', component: () => import('./views/admin/AdminLogs.vue') },
              { path: 'about', name: 'admin-about', component: () => import('./views/admin/AdminAbout.vue') },
            ],
          },
        ],
      },
      { path: '/:rest(.*)*', redirect: '/' },
    ],
  })

  router.beforeEach(async (to) => {
    await resolveSession(pinia)
    const session = useSessionStore(pinia)
    if (!to.meta.public && session.state !== 'signed-in') {
      return { name: 'login', query: to.fullPath !== '/' ? { next: to.fullPath } : {} }
    }
    if (to.name === 'login' && session.state === 'signed-in') return { name: 'home' }
    // The server refuses the admin API to others anyway; this keeps them off the pages.
    if (to.matched.some((r) => r.meta.admin === true) && !session.user?.admin) return { name: 'home' }
    return true
  })

  onUnauthorized(() => {
    const session = useSessionStore(pinia)
    if (session.state !== 'signed-in') return
    void useSyncStore(pinia)
      .stop({ forget: true })
      .then(() => {
        session.signedOut()
        void router.replace({ name: 'login' })
      })
  })

  return router
}
