// Registers the service worker and notices a new version: we ask before reloading.
import { ref } from 'vue'

export const updateReady = ref(false)
let registration: ServiceWorkerRegistration | null = null

function watchInstalling(worker: ServiceWorker | null): void {
  worker?.addEventListener('statechange', () => {
    if (worker.state === 'installed' && navigator.serviceWorker.controller) updateReady.value = true
  })
}

export async function registerServiceWorker(): Promise<void> {
  if (!('serviceWorker' in navigator) || !import.meta.env.PROD) return
  try {
    registration = await navigator.serviceWorker.register('/sw.js', { scope: '/', updateViaCache: 'none' })
  } catch {
    return // not a secure context (plain http on a LAN name): the app works online only
  }
  if (registration.waiting && navigator.serviceWorker.controller) updateReady.value = true
  registration.addEventListener('updatefound', () => watchInstalling(registration?.installing ?? null))
  let reloading = false
  navigator.serviceWorker.addEventListener('controllerchange', () => {
    if (reloading || !updateReady.value) return
    reloading = true
    window.location.reload()
  })
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') void checkForUpdate()
  })
  setInterval(() => void checkForUpdate(), 30 * 60 * 1000)
}

/** The active service worker's registration (notifications are shown through it), or null
 *  where there is none: a development build, plain HTTP, a browser without workers. */
export async function activeRegistration(): Promise<ServiceWorkerRegistration | null> {
  if (!('serviceWorker' in navigator)) return null
  const found = registration ?? (await navigator.serviceWorker.getRegistration())
  if (!found) return null
  return found.active ? found : await navigator.serviceWorker.ready
}

/** Asks the server for a newer sw.js (e.g. after reconnecting to a restarted server). */
export async function checkForUpdate(): Promise<void> {
  try {
    await registration?.update()
  } catch {
    /* offline */
  }
}

/** The user agreed: the waiting worker takes over and the page reloads. */
export function applyUpdate(): void {
  const waiting = registration?.waiting
  if (waiting) waiting.postMessage({ type: 'SKIP_WAITING' })
  else window.location.reload()
}
