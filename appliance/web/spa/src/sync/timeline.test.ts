import { describe, expect, it } from 'vitest'
import { message } from '@/testing/factories'
import { mergeNewestPage, mergeOlderPage, mergeSorted, upsertSorted, type Timeline } from './timeline'

const ids = (t: Timeline) => t.messages.map((m) => m.id)

describe('timeline', () => {
  it('keeps ids sorted and unique', () => {
    const list = [message(2), message(5)]
    expect(upsertSorted(list, message(9))).toBe(true)
    expect(upsertSorted(list, message(3))).toBe(true)
    expect(upsertSorted(list, message(5, { body: 'new' }))).toBe(false)
    expect(list.map((m) => m.id)).toEqual([2, 3, 5, 9])
    expect(list[2]!.body).toBe('new')
  })

  it('merges the newest page into a placeholder that live events filled', () => {
    const placeholder: Timeline = { messages: [message(60)], hasOlder: true, hasNewer: false }
    const merged = mergeNewestPage(placeholder, [message(58), message(59)], true)
    expect(merged).toBe(placeholder)
    expect(ids(merged)).toEqual([58, 59, 60])
    expect(merged.hasOlder).toBe(true)
  })

  it('merges into cached history that overlaps, and replaces one with a gap', () => {
    const cached: Timeline = { messages: [message(1), message(2), message(3)], hasOlder: false, hasNewer: false }
    expect(ids(mergeNewestPage(cached, [message(3), message(4)], true))).toEqual([1, 2, 3, 4])
    expect(cached.hasOlder).toBe(false)
    const gap = mergeNewestPage(cached, [message(10), message(11)], true)
    expect(ids(gap)).toEqual([10, 11])
    expect(gap.hasOlder).toBe(true)
  })

  it('puts older pages in front', () => {
    const t: Timeline = { messages: [message(10)], hasOlder: true, hasNewer: false }
    mergeOlderPage(t, [message(8), message(9)], false)
    expect(ids(t)).toEqual([8, 9, 10])
    expect(t.hasOlder).toBe(false)
  })

  it('adds an older page with one splice however much is held', () => {
    const held = Array.from({ length: 1000 }, (_, i) => message(1000 + i))
    let splices = 0
    const counted = new Proxy(held, {
      get(target, key, receiver) {
        if (key === 'splice') splices++
        return Reflect.get(target, key, receiver) as unknown
      },
    })
    mergeSorted(counted, Array.from({ length: 100 }, (_, i) => message(900 + i)))
    expect(splices).toBe(1)
    expect(held.map((m) => m.id)).toEqual(Array.from({ length: 1100 }, (_, i) => 900 + i))
  })

  it('merges a page that overlaps or interleaves what is held, one message at a time', () => {
    const list = [message(5), message(7)]
    mergeSorted(list, [message(3), message(4), message(6), message(7, { body: 'edited' }), message(9)])
    expect(list.map((m) => m.id)).toEqual([3, 4, 5, 6, 7, 9])
    expect(list[4]!.body).toBe('edited')
    const unsorted: ReturnType<typeof message>[] = []
    mergeSorted(unsorted, [message(2), message(1), message(3)])
    expect(unsorted.map((m) => m.id)).toEqual([1, 2, 3])
  })
})
