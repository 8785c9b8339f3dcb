import { describe, expect, it } from 'vitest'
import type { PushKey } from '@/api/push'
import { base64UrlToBytes, syncPush, type PushDeps } from './push'

const KEY = 'BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8'
const OTHER_KEY = 'BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4'

class FakeSubscription {
  unsubscribed = false
  constructor(
    readonly endpoint: string,
    readonly key: Uint8Array,
  ) {}
  get options(): { applicationServerKey: ArrayBuffer } {
    return { applicationServerKey: this.key.slice().buffer }
  }
  toJSON(): PushSubscriptionJSON {
    return { endpoint: this.endpoint, expirationTime: null, keys: { p256dh: 'p', auth: 'a' } }
  }
  async unsubscribe(): Promise<boolean> {
    this.unsubscribed = true
    return true
  }
}

class FakePushManager {
  current: FakeSubscription | null = null
  subscribed: PushSubscriptionOptionsInit[] = []
  fail = false
  count = 0
  async getSubscription(): Promise<FakeSubscription | null> {
    return this.current
  }
  async subscribe(options: PushSubscriptionOptionsInit): Promise<FakeSubscription> {
    if (this.fail) throw new DOMException('push service unreachable', 'AbortError')
    this.subscribed.push(options)
    this.current = new FakeSubscription(`https://fcm.googleapis.com/fcm/send/${++this.count}`, options.applicationServerKey as Uint8Array)
    return this.current
  }
}

function setup(key: PushKey, permission: NotificationPermission = 'granted') {
  const manager = new FakePushManager()
  const saved: PushSubscriptionJSON[] = []
  const forgotten: string[] = []
  const deps: PushDeps = {
    pushKey: async () => key,
    save: async (subscription) => void saved.push(subscription),
    forget: async (endpoint) => void forgotten.push(endpoint),
    registration: async () => ({ pushManager: manager }) as unknown as ServiceWorkerRegistration,
    permission: () => permission,
  }
  return { manager, saved, forgotten, deps }
}

describe('syncPush', () => {
  it('subscribes with the server key when Web Push is on and notifications are allowed', async () => {
    const { manager, saved, deps } = setup({ enabled: true, key: KEY })
    expect(await syncPush(true, deps)).toBe('subscribed')
    expect(manager.subscribed).toHaveLength(1)
    expect(manager.subscribed[0]?.userVisibleOnly).toBe(true)
    expect(Array.from(manager.subscribed[0]?.applicationServerKey as Uint8Array)).toEqual(
      Array.from(base64UrlToBytes(KEY)),
    )
    expect(saved.map((s) => s.endpoint)).toEqual(['https://fcm.googleapis.com/fcm/send/1'])
  })

  it('keeps a subscription made with the same key and tells the server again (this session)', async () => {
    const { manager, saved, deps } = setup({ enabled: true, key: KEY })
    await syncPush(true, deps)
    expect(await syncPush(true, deps)).toBe('subscribed')
    expect(manager.subscribed).toHaveLength(1)
    expect(saved).toHaveLength(2)
  })

  it('subscribes again when the appliance has a new key (restored from a backup)', async () => {
    const { manager, deps } = setup({ enabled: true, key: KEY })
    manager.current = new FakeSubscription('https://fcm.googleapis.com/fcm/send/old', base64UrlToBytes(OTHER_KEY))
    const old = manager.current
    expect(await syncPush(true, deps)).toBe('subscribed')
    expect(old.unsubscribed).toBe(true)
    expect(manager.current?.endpoint).toBe('https://fcm.googleapis.com/fcm/send/1')
  })

  it('does nothing while the admin has Web Push off, and keeps what exists', async () => {
    const { manager, saved, forgotten, deps } = setup({ enabled: false, key: null })
    manager.current = new FakeSubscription('https://fcm.googleapis.com/fcm/send/kept', base64UrlToBytes(KEY))
    expect(await syncPush(true, deps)).toBe('off')
    expect(manager.subscribed).toHaveLength(0)
    expect(manager.current.unsubscribed).toBe(false)
    expect(saved).toHaveLength(0)
    expect(forgotten).toHaveLength(0)
  })

  it('unsubscribes here and on the server once she turns notifications off', async () => {
    const { manager, forgotten, deps } = setup({ enabled: true, key: KEY })
    await syncPush(true, deps)
    const subscription = manager.current
    expect(await syncPush(false, deps)).toBe('not-allowed')
    expect(subscription?.unsubscribed).toBe(true)
    expect(forgotten).toEqual(['https://fcm.googleapis.com/fcm/send/1'])
  })

  it('never subscribes without the permission, nor where push is unsupported', async () => {
    const denied = setup({ enabled: true, key: KEY }, 'denied')
    expect(await syncPush(true, denied.deps)).toBe('not-allowed')
    expect(denied.manager.subscribed).toHaveLength(0)
    const none = setup({ enabled: true, key: KEY })
    none.deps.registration = async () => null
    expect(await syncPush(true, none.deps)).toBe('unsupported')
  })

  it('says so when the push service cannot be reached (no internet), saving nothing', async () => {
    const { manager, saved, deps } = setup({ enabled: true, key: KEY })
    manager.fail = true
    expect(await syncPush(true, deps)).toBe('failed')
    expect(saved).toHaveLength(0)
  })
})
