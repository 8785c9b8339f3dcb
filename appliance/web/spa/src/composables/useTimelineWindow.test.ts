import { mount, type VueWrapper } from '@vue/test-utils'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { defineComponent, h, nextTick, reactive, ref } from 'vue'
import type { Message } from '@/api/types'
import { message } from '@/testing/factories'
import type { Timeline } from '@/sync/timeline'
import { GROW_SLICE, MAX_WINDOW, firstBelow, useTimelineWindow } from './useTimelineWindow'

// happy-dom does no layout: every row is ROW px tall, the scroller shows VIEW px.
const ROW = 20
const VIEW = 100

function messages(from: number, to: number): Message[] {
  const out: Message[] = []
  for (let id = from; id <= to; id++) out.push(message(id, { room: 10, body: `m${id}` }))
  return out
}

function rowsOf(scroller: HTMLElement): HTMLElement[] {
  return [...scroller.querySelectorAll<HTMLElement>('[data-message-id]')]
}

/** Gives the scroller a height and a clamped scrollTop, and each row its place on screen. */
function layOut(scroller: HTMLElement): void {
  let top = 0
  const height = () => rowsOf(scroller).length * ROW
  Object.defineProperty(scroller, 'clientHeight', { get: () => VIEW })
  Object.defineProperty(scroller, 'scrollHeight', { get: height })
  Object.defineProperty(scroller, 'scrollTop', {
    get: () => top,
    set: (value: number) => (top = Math.max(0, Math.min(value, height() - VIEW))),
  })
}

function rect(top: number, height: number): DOMRect {
  return { top, bottom: top + height, left: 0, right: 0, width: 0, height, x: 0, y: top, toJSON: () => ({}) }
}

beforeEach(() => {
  vi.spyOn(HTMLElement.prototype, 'getBoundingClientRect').mockImplementation(function (this: HTMLElement) {
    const scroller = this.closest<HTMLElement>('[data-scroller]')
    if (!scroller || this === scroller) return rect(0, VIEW)
    return rect(rowsOf(scroller).indexOf(this) * ROW - scroller.scrollTop, ROW)
  })
  HTMLElement.prototype.scrollIntoView = function (this: HTMLElement) {
    const scroller = this.closest<HTMLElement>('[data-scroller]') as HTMLElement
    scroller.scrollTop = rowsOf(scroller).indexOf(this) * ROW - VIEW / 2
  }
})

let wrapper: VueWrapper | null = null
afterEach(() => {
  wrapper?.unmount()
  wrapper = null
  vi.restoreAllMocks()
})

/** A host rendering the window as MessageList does, over a timeline the test controls. */
function host(timeline: Timeline, loadOlder: () => Promise<void> = async () => undefined) {
  const state = reactive({ timeline })
  let api!: ReturnType<typeof useTimelineWindow>
  const settled = vi.fn()
  const Host = defineComponent({
    setup() {
      const scroller = ref<HTMLElement | null>(null)
      const content = ref<HTMLElement | null>(null)
      api = useTimelineWindow({
        scroller,
        content,
        timeline: () => state.timeline,
        loadOlder,
        loadNewer: async () => undefined,
        loadLatest: async () => undefined,
        pinned: () => false,
        onSettled: settled,
      })
      return () =>
        h('div', { ref: scroller, 'data-scroller': '', onScroll: api.onScroll }, [
          h(
            'div',
            { ref: content },
            api.all.value
              .slice(api.startIndex.value, api.endIndex.value)
              .map((m) => h('div', { key: m.id, 'data-message-id': m.id }, m.body)),
          ),
        ])
    },
  })
  wrapper = mount(Host, { attachTo: document.body })
  const scroller = wrapper.element as HTMLElement
  layOut(scroller)
  const shown = () => rowsOf(scroller).map((row) => Number(row.dataset.messageId))
  const topOf = (id: number) =>
    (scroller.querySelector(`[data-message-id="${id}"]`) as HTMLElement).getBoundingClientRect().top + 0 // not -0
  const scrollTo = async (top: number) => {
    scroller.scrollTop = top
    scroller.dispatchEvent(new Event('scroll'))
    await new Promise((resolve) => requestAnimationFrame(resolve))
  }
  return { state, api: () => api, scroller, shown, topOf, scrollTo, settled }
}

describe('useTimelineWindow', () => {
  it('puts only the newest 80 of a long history in the page, and follows new messages', async () => {
    const view = host({ messages: messages(1, 300), hasOlder: false, hasNewer: false })
    expect(view.shown()).toEqual(messages(221, 300).map((m) => m.id))
    expect(view.api().following.value).toBe(true)

    view.api().scrollToBottom()
    view.state.timeline.messages.push(message(301, { room: 10 }))
    await nextTick()
    await nextTick()
    expect(view.shown().at(-1)).toBe(301)
    expect(view.scroller.scrollTop).toBe(view.scroller.scrollHeight - VIEW)
    expect(view.settled).toHaveBeenCalled()
  })

  it('adds older rows above without moving the message being read', async () => {
    const view = host({ messages: messages(1, 300), hasOlder: false, hasNewer: false })
    await view.scrollTo(40) // message 223 at the top of the screen
    expect(view.shown().length).toBeGreaterThan(80) // near the top: the scroll grew the window
    await vi.waitFor(() => expect(view.shown().length).toBe(130))
    expect(view.topOf(223)).toBe(0)
    await view.api().growUp()
    expect(view.shown().length).toBe(180)
    expect(view.topOf(223)).toBe(0)
  })

  it('adds them a few per task, so a phone never renders a whole page at once', async () => {
    const view = host({ messages: messages(1, 300), hasOlder: false, hasNewer: false })
    view.scroller.scrollTop = 40
    const growing = view.api().growUp()
    await nextTick()
    await nextTick()
    expect(view.shown().length).toBe(80 + GROW_SLICE)
    await growing
    expect(view.shown().length).toBe(130)
    expect(view.topOf(223)).toBe(0)
  })

  it('never holds more than MAX_WINDOW rows, and loads an older page at the top of what it has', async () => {
    const loadOlder = vi.fn(async () => {
      view.state.timeline.messages.unshift(...messages(1, 100))
      view.state.timeline.hasOlder = false
    })
    const view = host({ messages: messages(101, 400), hasOlder: true, hasNewer: false }, loadOlder)
    for (let step = 0; step < 10; step++) {
      view.scroller.scrollTop = 0
      const anchor = view.shown()[0] as number
      await view.api().growUp()
      expect(view.shown().length).toBeLessThanOrEqual(MAX_WINDOW)
      expect(view.topOf(anchor)).toBe(0)
    }
    expect(loadOlder).toHaveBeenCalledTimes(1)
    expect(view.shown()[0]).toBe(1)
    expect(view.api().following.value).toBe(false) // the newest rows were dropped below
  })

  it('waits for a page of the room already on its way instead of asking again at once', async () => {
    let onItsWay = true
    const loadOlder = vi.fn(async () => {
      // The store declines while another page of the room loads (it arrives in a later task);
      // a thousand refusals in a row stand for the endless loop that hung the tab.
      if (loadOlder.mock.calls.length >= 1000) onItsWay = false
      if (onItsWay) return
      view.state.timeline.messages.unshift(...messages(1, 100))
      view.state.timeline.hasOlder = false
    })
    const view = host({ messages: messages(101, 180), hasOlder: true, hasNewer: false }, loadOlder)
    setTimeout(() => (onItsWay = false), 0) // the other page: its response is a task
    view.scroller.scrollTop = 0
    await view.api().growUp()
    // Each retry waits a frame, so the answer gets in after a few at most, however the
    // test runner's timers and frames interleave under load (4 was seen); the old code asked
    // until the thousandth refusal.
    expect(loadOlder.mock.calls.length).toBeLessThanOrEqual(10)
    expect(view.state.timeline.messages[0]?.id).toBe(1) // the page came, and joined above
    expect(view.shown()[0]).toBeLessThan(101)
  })

  it('ends the window at the last loaded message when newer ones are still on the server', async () => {
    const view = host({ messages: messages(1, 300), hasOlder: false, hasNewer: true })
    await view.api().reveal(290) // the window reaches the last loaded message
    view.scroller.scrollTop = view.scroller.scrollHeight
    await view.api().growDown() // returns: nothing more to add below, the end is open
    expect(view.shown().at(-1)).toBe(300)
  })

  it('finds the first row below a line by binary search, reading few boxes', () => {
    const rows = Array.from({ length: 240 }, (_, i) => {
      const row = document.createElement('div')
      row.getBoundingClientRect = vi.fn(() => rect(i * ROW - 3000, ROW))
      return row
    })
    expect(firstBelow(rows, 0)).toBe(rows[150]) // 150 * 20 - 3000 = 0: its bottom is below
    expect(firstBelow(rows, 10)).toBe(rows[150])
    expect(firstBelow(rows, 20)).toBe(rows[151])
    expect(firstBelow(rows, -5000)).toBe(rows[0])
    expect(firstBelow(rows, 5000)).toBeNull()
    expect(firstBelow([], 0)).toBeNull()
    const read = rows.filter((row) => (row.getBoundingClientRect as ReturnType<typeof vi.fn>).mock.calls.length > 0)
    expect(read.length).toBeLessThan(50) // six searches of log2(240) ~ 8 reads, not 150 each
  })

  it('counts messages that arrive while reading further up, and jumps back to them', async () => {
    const view = host({ messages: messages(1, 300), hasOlder: false, hasNewer: false })
    await view.scrollTo(1000) // well above the bottom, far from the top
    expect(view.api().atBottom.value).toBe(false)
    view.state.timeline.messages.push(message(301, { room: 10 }), message(302, { room: 10 }))
    await nextTick()
    expect(view.api().unseenBelow.value).toBe(1) // one batch: the newest id changed once
    expect(view.scroller.scrollTop).toBe(1000)

    await view.api().jumpToLatest()
    expect(view.api().unseenBelow.value).toBe(0)
    expect(view.scroller.scrollTop).toBe(view.scroller.scrollHeight - VIEW)
  })

  it('reveals a linked message in the middle of the window, then returns to the newest', async () => {
    const view = host({ messages: messages(1, 300), hasOlder: false, hasNewer: false })
    await view.api().reveal(150)
    expect(view.shown()).toEqual(messages(110, 189).map((m) => m.id))
    expect(view.api().following.value).toBe(false)
    expect(view.topOf(150)).toBe(VIEW / 2)

    await view.api().jumpToLatest()
    expect(view.shown()).toEqual(messages(221, 300).map((m) => m.id))
    expect(view.api().following.value).toBe(true)
  })
})
