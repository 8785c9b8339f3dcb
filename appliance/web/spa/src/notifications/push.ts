// Web Push (docs/api.md, "Web Push"): this device subscribes with the browser's push
// service when the admin turned Web Push on and the person allows notifications here, so
// that a missed message reaches it with the app closed. The server decides what is pushed;
// the service worker shows it (public/sw.js).
import { onScopeDispose, watch } from 'vue'
import { pushApi, type PushKey } from '@/api/push'

export type PushState = 'subscribed' | 'off' | 'not-allowed' | 'unsupported' | 'failed'

/** What the sync needs, swappable in tests (the browser's push service cannot be reached there). */
export interface PushDeps {
  pushKey(): Promise<PushKey>
  save(subscription: PushSubscriptionJSON): Promise<void>
  forget(endpoint: string): Promise<void>
  registration(): Promise<ServiceWorkerRegistration | null>
  permission(): NotificationPermission | 'unsupported'
}

const browserDeps: PushDeps = {
  pushKey: pushApi.key,
  save: pushApi.save,
  forget: pushApi.forget,
  async registration() {
    if (typeof navigator === 'undefined' || !('serviceWorker' in navigator)) return null
    if (typeof PushManager === 'undefined') return null
    return (await navigator.serviceWorker.getRegistration()) ?? null
  },
  permission() {
    return typeof Notification === 'undefined' ? 'unsupported' : Notification.permission
  },
}

export function base64UrlToBytes(text: string): Uint8Array<ArrayBuffer> {
  const base64 = text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4)
  const binary = atob(base64)
  const bytes = new Uint8Array(binary.length)
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i)
  return bytes
}

function sameKey(a: ArrayBuffer | null | undefined, b: Uint8Array): boolean {
  if (!a || a.byteLength !== b.byteLength) return false
  const view = new Uint8Array(a)
  return view.every((byte, i) => byte === b[i])
}

/**
 * Bring this device's subscription in line: subscribed (and known to the server, for this
 * session) when Web Push is on and notifications are allowed; unsubscribed when she no
 * longer allows them. While the admin has it off, an existing subscription is kept: the
 * server keeps it too, so turning it on again needs nothing of anyone.
 */
export async function syncPush(wanted: boolean, deps: PushDeps = browserDeps): Promise<PushState> {
  const registration = await deps.registration()
  const permission = deps.permission()
  if (!registration?.pushManager || permission === 'unsupported') return 'unsupported'
  const existing = await registration.pushManager.getSubscription()
  if (!wanted || permission !== 'granted') {
    if (existing) {
      const endpoint = existing.endpoint
      await existing.unsubscribe().catch(() => false)
      await deps.forget(endpoint).catch(() => undefined)
    }
    return 'not-allowed'
  }
  const { enabled, key } = await deps.pushKey()
  if (!enabled || !key) return 'off'
  const serverKey = base64UrlToBytes(key)
  let subscription = existing
  // Subscribed with another key (the appliance was restored and made a new one): again.
  if (subscription && !sameKey(subscription.options.applicationServerKey, serverKey)) {
    await subscription.unsubscribe().catch(() => false)
    subscription = null
  }
  try {
    subscription ??= await registration.pushManager.subscribe({
      userVisibleOnly: true,
      applicationServerKey: serverKey,
    })
  } catch {
    return 'failed' // no push service reachable (an office without internet), or refused
  }
  // Saved every time: the same endpoint is replaced, and now belongs to this session.
  await deps.save(subscription.toJSON())
  return 'subscribed'
}

/**
 * Keep the subscription in step while signed in: when the app starts, when the connection
 * comes back (the admin may have turned Web Push on), and when she turns notifications on
 * or off in this browser.
 */
export function usePushSubscription(wanted: () => boolean, online: () => boolean): void {
  let running: Promise<unknown> = Promise.resolve()
  const stop = watch(
    [wanted, online],
    ([want, isOnline]) => {
      if (!isOnline) return
      running = running.then(() => syncPush(want)).catch(() => undefined)
    },
    { immediate: true },
  )
  onScopeDispose(stop)
}
