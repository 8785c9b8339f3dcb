import { describe, expect, it } from 'vitest'
import { coveredBy } from './clear'
import { messagePayload, messageUrl, notificationData } from './payload'
import { notificationOptions } from './show'

describe('notification payloads', () => {
  it('is the Web Push payload a page shows too', () => {
    const p = messagePayload({ room: 4, id: 90, thread: 12 }, 'ann in #ops', 'look', 3)
    expect(p).toEqual({
      v: 1,
      kind: 'message',
      room: 4,
      thread: 12,
      message: 90,
      title: 'ann in #ops',
      body: 'look',
      tag: 'room-4',
      url: '/rooms/4?message=90&thread=12',
      unread: 3,
    })
    expect(messageUrl(4, 90, null)).toBe('/rooms/4?message=90')
  })

  it('carries what a click, a reply and "Mark as read" need, replacing the room\'s last', () => {
    const options = notificationOptions(messagePayload({ room: 4, id: 90, thread: null }, 't', 'b', null), 5)
    expect(options.data).toEqual({ room: 4, thread: null, message: 90, url: '/rooms/4?message=90' })
    expect(options.tag).toBe('room-4')
    expect(options.renotify).toBe(true)
    expect(options.actions.map((a) => [a.action, a.type ?? 'button'])).toEqual([
      ['reply', 'text'],
      ['read', 'button'],
    ])
  })

  it('reads back only data of our shape', () => {
    expect(notificationData({ room: 1, message: 2, url: '/rooms/1', thread: null })).toEqual({
      room: 1,
      thread: null,
      message: 2,
      url: '/rooms/1',
    })
    expect(notificationData({ room: 1, message: 2 })).toBeNull()
    expect(notificationData('room-1')).toBeNull()
    expect(notificationData(null)).toBeNull()
  })

  it('is covered by a marker of the same room and timeline or thread, at or past it', () => {
    const timeline = { room: 1, thread: null, message: 10, url: '/rooms/1?message=10' }
    const reply = { room: 1, thread: 7, message: 12, url: '/rooms/1?message=12&thread=7' }
    expect(coveredBy(timeline, 1, null, 10)).toBe(true)
    expect(coveredBy(timeline, 1, null, 9)).toBe(false) // a newer message is still unread
    expect(coveredBy(timeline, 2, null, 99)).toBe(false)
    expect(coveredBy(reply, 1, null, 99)).toBe(false) // reading the room is not the thread
    expect(coveredBy(reply, 1, 7, 12)).toBe(true)
    expect(coveredBy(reply, 1, 8, 12)).toBe(false)
  })
})
