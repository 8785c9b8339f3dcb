import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { NotifySettings } from '@/api/notifications'
import type { ChatEvent } from '@/api/types'
import { notifyDecision } from '@/notifications/decide'
import { defaultNotifySettings } from '@/notifications/policy'
import { event, message, room, user } from '@/testing/factories'
import { useNotifySettingsStore } from './notifySettings'
import { usePreferencesStore } from './preferences'
import { useRoomsStore } from './rooms'
import { useSessionStore } from './session'

function jsonResponse(body: unknown): Response {
  return new Response(JSON.stringify(body), { status: 200, headers: { 'Content-Type': 'application/json' } })
}

const until = async (check: () => boolean) => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 5))
  expect(check()).toBe(true)
}

describe('notifySettings store', () => {
  let server: NotifySettings
  let fetchMock: ReturnType<typeof vi.fn>
  let emit: (event: ChatEvent) => void = () => undefined
  const follow = (listener: (event: ChatEvent, live: boolean) => void) => {
    emit = (e) => listener(e, true)
    return () => undefined
  }

  beforeEach(() => {
    localStorage.clear()
    setActivePinia(createPinia())
    server = defaultNotifySettings()
    fetchMock = vi.fn(async (url: string, init?: RequestInit) => {
      const match = /^\/api\/rooms\/(\d+)\/notifications$/.exec(url)
      if (match && init?.method === 'PUT') {
        const id = Number(match[1])
        if (id === 99) return new Response(JSON.stringify({ error: { code: 'not_found', message: 'No.' } }), { status: 404, headers: { 'Content-Type': 'application/json' } })
        const body = JSON.parse(String(init.body)) as { level: 'nothing' }
        server = { ...server, rooms: { ...server.rooms, [id]: { room: id, level: body.level, muted_until: null } } }
      } else if (url !== '/api/me/notifications') throw new Error(`unexpected ${url}`)
      return jsonResponse({ notifications: server })
    })
    vi.stubGlobal('fetch', fetchMock)
    const session = useSessionStore()
    session.signedIn(user(1))
    useRoomsStore().replaceAll([room(10, { kind: 'direct', members: [1, 2] }), room(20, { kind: 'channel' })])
  })
  afterEach(() => vi.unstubAllGlobals())

  it('loads once caught up, then follows her events', async () => {
    server = { ...server, group_level: 'all' }
    const store = useNotifySettingsStore()
    store.follow(follow)
    expect(fetchMock).not.toHaveBeenCalled()
    useSessionStore().caughtUp = true
    await until(() => store.loaded)
    expect(store.settings.group_level).toBe('all')

    emit(event(5, 'notify.settings', null, { notifications: { ...defaultNotifySettings(), keywords: ['deploy'] } }))
    expect(store.settings.keywords).toEqual(['deploy'])
    emit(event(6, 'notify.room', null, { room: 20, level: 'nothing', muted_until: null }))
    expect(store.roomSetting(20).level).toBe('nothing')
    emit(event(7, 'notify.room', null, { room: 20, level: null, muted_until: null }))
    expect(store.settings.rooms).toEqual({})

    // After a reload, the last settings seen apply before the server answers.
    setActivePinia(createPinia())
    useSessionStore().signedIn(user(1))
    const again = useNotifySettingsStore()
    again.follow(follow)
    expect(again.settings.keywords).toEqual(['deploy'])
    again.reset()
    expect(localStorage.getItem('pychat.notify')).toBeNull()
  })

  it('asks again when an event arrives while it loads', async () => {
    const store = useNotifySettingsStore()
    let answer: (r: Response) => void = () => undefined
    fetchMock.mockImplementationOnce(() => new Promise<Response>((resolve) => (answer = resolve)))
    store.follow(follow)
    useSessionStore().caughtUp = true
    await until(() => fetchMock.mock.calls.length === 1)
    emit(event(5, 'notify.settings', null, { notifications: { ...defaultNotifySettings(), hide_text: true } }))
    server = { ...server, hide_text: true }
    answer(jsonResponse({ notifications: defaultNotifySettings() })) // older than the event
    await until(() => store.loaded)
    expect(fetchMock).toHaveBeenCalledTimes(2)
    expect(store.settings.hide_text).toBe(true)
  })

  it('moves rooms muted in this browser to the server, counting them muted meanwhile', async () => {
    localStorage.setItem('pychat.preferences', JSON.stringify({ mutedRooms: [20, 99] }))
    setActivePinia(createPinia())
    useSessionStore().signedIn(user(1))
    useRoomsStore().replaceAll([room(10, { kind: 'direct', members: [1, 2] }), room(20, { kind: 'channel' })])
    const store = useNotifySettingsStore()
    const preferences = usePreferencesStore()
    const mention = message(3, { room: 20, author: 2, mentions: [1] })
    expect(notifyDecision(mention)).toBe(false) // muted here before the server knows
    expect(preferences.isMuted(20)).toBe(true)
    store.follow(follow)
    useSessionStore().caughtUp = true
    await until(() => preferences.legacyMutedRooms.length === 0)
    expect(store.roomSetting(20).level).toBe('nothing')
    expect(notifyDecision(mention)).toBe(false)
    expect(JSON.parse(localStorage.getItem('pychat.preferences') ?? '{}').mutedRooms).toEqual([])
  })

  it('decides with the rule and her settings', () => {
    const store = useNotifySettingsStore()
    expect(notifyDecision(message(1, { room: 10, author: 2, body: 'hi' }))).toBe(true) // a DM
    expect(notifyDecision(message(2, { room: 10, author: 1, body: 'mine' }))).toBe(false)
    expect(notifyDecision(message(3, { room: 20, author: 2, body: 'lunch' }))).toBe(false)
    expect(notifyDecision(message(4, { room: 20, author: 2, body: 'x', mentions: [1] }))).toBe(true)
    expect(notifyDecision(message(5, { room: 77, author: 2, body: 'unknown room' }))).toBe(false)
    store.received(event(9, 'notify.settings', null, { notifications: { ...defaultNotifySettings(), keywords: ['Deploy'], snoozed_until: null } }))
    expect(notifyDecision(message(6, { room: 20, author: 2, body: 'deploy now' }))).toBe(true)
    store.received(event(10, 'notify.room', null, { room: 10, level: null, muted_until: Date.now() + 60_000 }))
    expect(notifyDecision(message(7, { room: 10, author: 2, body: 'hi' }))).toBe(false)
    store.received(event(11, 'notify.settings', null, { notifications: { ...defaultNotifySettings(), snoozed_until: Date.now() + 60_000 } }))
    expect(notifyDecision(message(8, { room: 20, author: 2, body: 'x', mentions: [1] }))).toBe(false)
  })
})
