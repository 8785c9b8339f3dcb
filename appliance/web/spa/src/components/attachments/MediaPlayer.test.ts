import { mount } from '@vue/test-utils'
import { describe, expect, it } from 'vitest'
import type { Upload } from '@/api/types'
import MediaPlayer from './MediaPlayer.vue'

const voice: Upload = {
  id: 7,
  name: 'Voice message.webm',
  size: 4096,
  mime: 'audio/webm',
  url: '/api/uploads/7/Voice%20message.webm',
  thumb_url: null,
  width: null,
  height: null,
  duration_ms: 5008,
  animated: false,
}

describe('media player', () => {
  it('says when a recording cannot be played and offers it as a download', async () => {
    const player = mount(MediaPlayer, { props: { upload: voice, kind: 'audio' } })
    expect(player.find('[data-testid=media-error]').exists()).toBe(false)
    expect(player.find('figcaption').text()).toBe('Voice message.webm · 0:05 · 4.0 KB')
    await player.find('audio').trigger('error')
    const error = player.find('[data-testid=media-error]')
    expect(error.text()).toContain('This recording cannot be played here.')
    const link = player.find('[data-testid=media-download]')
    expect([link.attributes('href'), link.attributes('download')]).toEqual([voice.url, voice.name])
    expect(player.find('audio').attributes('style')).toContain('display: none') // the greyed-out control goes
    player.unmount()
  })
})
