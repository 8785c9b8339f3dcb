import { describe, expect, it } from 'vitest'
import { durationLabel, fileSize, fitBox, iconFor, kindOf, timerLabel, typeLabel } from './attachmentFormat'

describe('attachment format', () => {
  it('plays images, audio and video inline and gives everything else a card', () => {
    expect(kindOf('image/png')).toBe('image')
    expect(kindOf('image/svg+xml')).toBe('file') // never drawn inline: it can carry scripts
    expect(kindOf('audio/webm;codecs=opus')).toBe('audio')
    expect(kindOf('video/webm')).toBe('video')
    expect(kindOf('application/pdf')).toBe('file')
    expect(kindOf('text/html')).toBe('file')
  })

  it('says sizes the way people read them', () => {
    expect(fileSize(0)).toBe('0 B')
    expect(fileSize(1023)).toBe('1023 B')
    expect(fileSize(1536)).toBe('1.5 KB')
    expect(fileSize(25 * 1024 * 1024)).toBe('25 MB')
    expect(fileSize(3 * 1024 ** 3)).toBe('3.0 GB')
  })

  it('names the type from the mime type or the extension', () => {
    expect(typeLabel('report.pdf', 'application/pdf')).toBe('PDF')
    expect(typeLabel('notes.md', 'application/octet-stream')).toBe('MD')
    expect(typeLabel('../../etc/passwd', 'application/octet-stream')).toBe('File')
    expect(iconFor('a.zip', 'application/octet-stream')).toBe('archive')
    expect(iconFor('a', 'application/pdf')).toBe('pdf')
  })

  it('formats durations', () => {
    expect(durationLabel(3200)).toBe('0:03')
    expect(durationLabel(65_000)).toBe('1:05')
    // A recording's running timer counts whole seconds: 1.8 s is still 0:01.
    expect(timerLabel(1_847)).toBe('0:01')
    expect(timerLabel(2_000)).toBe('0:02')
    expect(durationLabel(3_723_000)).toBe('1:02:03')
  })

  it('fits images in the preview box without enlarging them, keeping their shape', () => {
    expect(fitBox(4000, 3000, 360, 280)).toEqual({ width: 360, height: 270 })
    expect(fitBox(1000, 4000, 360, 280)).toEqual({ width: 70, height: 280 })
    expect(fitBox(100, 50, 360, 280)).toEqual({ width: 100, height: 50 })
    expect(fitBox(null, null, 360, 280)).toEqual({ width: 280, height: 280 })
  })
})
