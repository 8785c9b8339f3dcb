import { RouterLinkStub, mount } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import { beforeEach, describe, expect, it } from 'vitest'
import { room } from '@/testing/factories'
import RoomLink from './RoomLink.vue'
import { unreadBadge } from './unreadBadge'

function link(unread: number, mentions = 0) {
  return mount(RoomLink, {
    props: { room: room(7, { name: 'hq', unread, mentions }), active: false },
    global: { stubs: { RouterLink: RouterLinkStub } },
  })
}

describe('a room in the sidebar', () => {
  beforeEach(() => setActivePinia(createPinia()))

  it('shows its unread count up to 999, and 999+ for the server cap (1000: "1,000 or more") and past it', () => {
    expect(link(12).find('[data-testid=unread-badge]').text()).toBe('12')
    expect(link(999).find('[data-testid=unread-badge]').text()).toBe('999')
    for (const unread of [1000, 1004]) {
      const capped = link(unread)
      expect(capped.find('[data-testid=unread-badge]').text()).toBe('999+')
      expect(capped.findComponent(RouterLinkStub).attributes('aria-label')).toBe('hq, 999+ unread')
    }
  })

  it('shows mentions exactly, in place of the unread count', () => {
    const mentioned = link(1000, 3)
    expect(mentioned.find('[data-testid=mention-badge]').text()).toBe('@3')
    expect(mentioned.find('[data-testid=unread-badge]').exists()).toBe(false)
  })

  it('formats counts in one place', () => {
    expect([1, 999, 1000, 5000].map(unreadBadge)).toEqual(['1', '999', '999+', '999+'])
  })
})
