import { describe, expect, it } from 'vitest'
import type { Upload } from '@/api/types'
import { message } from '@/testing/factories'
import { notificationBody } from './useNotifications'

function file(name: string, mime: string): Upload {
  return {
    id: 1,
    name,
    size: 10,
    mime,
    url: `/api/uploads/1/${name}`,
    thumb_url: null,
    width: null,
    height: null,
    duration_ms: null,
    animated: false,
  }
}

describe('notificationBody', () => {
  it('shows the text without markdown marks', () => {
    expect(notificationBody(message(1, { body: '**hello** `there`' }))).toBe('hello there')
  })

  it('says what a message without text carries', () => {
    const voice = message(1, { body: '', attachments: [file('voice.webm', 'audio/webm')] })
    expect(notificationBody(voice)).toBe('Sent a voice message')
    const pdf = message(2, { body: '', attachments: [file('plan.pdf', 'application/pdf')] })
    expect(notificationBody(pdf)).toBe('Sent plan.pdf')
    const two = message(3, {
      body: '',
      attachments: [file('a.png', 'image/png'), file('b.png', 'image/png')],
    })
    expect(notificationBody(two)).toBe('Sent 2 files')
  })
})
