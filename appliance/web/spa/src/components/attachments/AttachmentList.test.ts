import { mount } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import { beforeEach, describe, expect, it } from 'vitest'
import { nextTick } from 'vue'
import type { Upload } from '@/api/types'
import AttachmentList from './AttachmentList.vue'

function upload(id: number, name: string, mime: string, over: Partial<Upload> = {}): Upload {
  return { id, name, size: 2048, mime, url: `/api/uploads/${id}/${encodeURIComponent(name)}`, thumb_url: null, width: null, height: null, duration_ms: null, animated: false, ...over }
}

const files = [
  upload(1, 'wide.png', 'image/png', { thumb_url: '/api/uploads/1/thumb', width: 1600, height: 900 }),
  upload(2, 'tall.jpg', 'image/jpeg', { thumb_url: '/api/uploads/2/thumb', width: 600, height: 1200 }),
  upload(3, 'Voice message.webm', 'audio/webm', { duration_ms: 3200 }),
  upload(4, 'Clip.webm', 'video/webm', { duration_ms: 65_000 }),
  upload(5, 'report.pdf', 'application/pdf'),
  upload(6, '<script>alert(1)</script>.html', 'application/octet-stream'),
]

describe('attachments of a message', () => {
  // Pictures watch the connection (they retry when it returns): the session store.
  beforeEach(() => setActivePinia(createPinia()))

  it('shows images as sized thumbnails, players for sound and video, cards for the rest', () => {
    const list = mount(AttachmentList, { props: { attachments: files }, attachTo: document.body })
    const images = list.findAll('[data-testid=image-preview] img')
    expect(images.map((i) => i.attributes('src'))).toEqual(['/api/uploads/1/thumb', '/api/uploads/2/thumb'])
    // Two images share a row of 220 px boxes: each keeps its shape.
    expect(images.map((i) => [i.attributes('width'), i.attributes('height')])).toEqual([
      ['220', '124'],
      ['88', '176'],
    ])
    expect(list.find('[data-testid=audio-player]').attributes('src')).toBe(files[2]?.url)
    expect(list.find('[data-testid=audio-attachment] figcaption').text()).toBe('Voice message.webm · 0:03 · 2.0 KB')
    expect(list.find('[data-testid=video-attachment] figcaption').text()).toContain('1:05')
    const cards = list.findAll('[data-testid=file-card]')
    expect(cards.map((c) => c.find('[data-testid=file-meta]').text())).toEqual(['PDF · 2.0 KB', 'HTML · 2.0 KB'])
    // A name is text, never markup; the link downloads.
    expect(cards[1]?.find('[data-testid=file-name]').text()).toBe('<script>alert(1)</script>.html')
    expect(cards[1]?.find('[data-testid=file-name]').attributes('download')).toBe('<script>alert(1)</script>.html')
    expect(document.querySelector('script')).toBeNull()
    list.unmount()
  })

  it('opens the lightbox on a click; arrows step through the images, Escape closes it', async () => {
    const list = mount(AttachmentList, { props: { attachments: files }, attachTo: document.body })
    await list.findAll('[data-testid=image-preview]')[1]?.trigger('click')
    const image = () => document.querySelector<HTMLImageElement>('[data-testid=lightbox-image]')
    expect(image()?.getAttribute('src')).toBe(files[1]?.url)
    window.dispatchEvent(new KeyboardEvent('keydown', { key: 'ArrowRight' }))
    await nextTick()
    expect(image()?.getAttribute('src')).toBe(files[0]?.url) // wraps around
    window.dispatchEvent(new KeyboardEvent('keydown', { key: 'ArrowLeft' }))
    await nextTick()
    expect(image()?.getAttribute('src')).toBe(files[1]?.url)
    window.dispatchEvent(new KeyboardEvent('keydown', { key: 'Escape' }))
    await nextTick()
    expect(image()).toBeNull()
    list.unmount()
  })
})
