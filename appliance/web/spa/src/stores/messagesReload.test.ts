// A reload (the hello's, which forgets held history) while a room's page is on its way: the
// room loads again at once, and the page asked for before the reload is not used (it may
// predate a gap). Before, the room's `loading` flag outlived its timeline and its next load
// returned at it: the room stayed at "Loading…" (test_p2p_files under load).
import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { message } from '@/testing/factories'
import { useMessagesStore } from './messages'

function page(ids: number[]): Response {
  const messages = ids.map((id) => message(id))
  return new Response(JSON.stringify({ messages, has_more: false }), { status: 200 })
}

describe('messages store across a reload', () => {
  /** The answers the test gives, in the order the pages were asked for. */
  let answer: ((response: Response) => void)[]

  beforeEach(() => {
    setActivePinia(createPinia())
    answer = []
    vi.stubGlobal('fetch', () => new Promise<Response>((done) => answer.push(done)))
  })
  afterEach(() => vi.unstubAllGlobals())

  it('loads the room again when a reload cut off its page', async () => {
    const messages = useMessagesStore()
    const before = messages.loadNewest(10)
    await vi.waitFor(() => expect(answer).toHaveLength(1))
    messages.clear() // the hello's reload, while the page is on its way
    const after = messages.loadNewest(10) // the room view opens it again
    await vi.waitFor(() => expect(answer).toHaveLength(2))
    answer[0]!(page([1, 2])) // asked for before the reload: not the truth any more
    await before
    answer[1]!(page([1, 2, 3]))
    await after
    expect(messages.timelines[10]?.messages.map((m) => m.id)).toEqual([1, 2, 3])
    expect(messages.loading[10]).toBeUndefined()
  })

  it('keeps an early page through the reload and settles it with a page asked after it', async () => {
    const messages = useMessagesStore()
    messages.showEarly(10, [message(1)], false)
    const before = messages.loadNewest(10)
    await vi.waitFor(() => expect(answer).toHaveLength(1))
    messages.clear({ keepEarly: true })
    answer[0]!(page([1, 2])) // older than the hello's head: must not settle the early page
    await before
    expect(messages.isEarly(10)).toBe(true)
    const after = messages.loadNewest(10)
    await vi.waitFor(() => expect(answer).toHaveLength(2))
    answer[1]!(page([1, 2, 3]))
    await after
    expect(messages.isEarly(10)).toBe(false)
    expect(messages.timelines[10]?.messages.map((m) => m.id)).toEqual([1, 2, 3])
  })
})
