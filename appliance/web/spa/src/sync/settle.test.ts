// The page shown from boot's requests, settled by the newest page once caught up: nothing
// missed, nothing twice, unchanged rows keep their objects (so they are not drawn again).
import { describe, expect, it } from 'vitest'
import { message } from '@/testing/factories'
import { settleNewestPage, type Timeline } from './timeline'

const ids = (t: Timeline) => t.messages.map((m) => m.id)

describe('settleNewestPage', () => {
  it('takes the page as the truth, keeps unchanged objects and live messages after it', () => {
    const early = [message(1), message(2), message(3)]
    const t: Timeline = { messages: [...early, message(5)], hasOlder: true, hasNewer: false } // 5: live
    const page = [message(2), message(3, { body: 'edited' }), message(4)] // 1 fell out, 3 edited
    settleNewestPage(t, new Set([1, 2, 3]), page, false)
    expect(ids(t)).toEqual([2, 3, 4, 5])
    expect(t.messages[0]).toBe(early[1]) // unchanged: the same object
    expect(t.messages[1]!.body).toBe('edited')
    expect(t.hasOlder).toBe(false)
  })

  it('drops early messages the server no longer has', () => {
    const t: Timeline = { messages: [message(1), message(2)], hasOlder: false, hasNewer: false }
    settleNewestPage(t, new Set([1, 2]), [message(1)], false) // 2 was deleted before the page
    expect(ids(t)).toEqual([1])
    settleNewestPage(t, new Set([1]), [], false) // the room emptied
    expect(ids(t)).toEqual([])
  })
})
