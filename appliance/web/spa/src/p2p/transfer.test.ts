import { describe, expect, it } from 'vitest'
import { formatBytes, formatTimeLeft, mayGoAway, parseControl, parseOffer, percent, SpeedMeter } from './transfer'

describe('transfer channel messages', () => {
  it('reads each control message and nothing malformed', () => {
    expect(parseControl('{"resume":65536}')).toEqual({ resume: 65536 })
    expect(parseControl('{"ack":1}')).toEqual({ ack: 1 })
    const sha = 'a'.repeat(64)
    expect(parseControl(`{"done":5,"sha256":"${sha}"}`)).toEqual({ done: 5, sha256: sha })
    expect(parseControl('{"verified":false}')).toEqual({ verified: false })
    expect(parseControl('{"cancel":true}')).toEqual({ cancel: true })
    for (const bad of ['', 'null', '[]', '{"resume":-1}', '{"ack":1.5}', '{"done":5,"sha256":"xyz"}', '{"cancel":1}']) {
      expect(parseControl(bad), bad).toBeNull()
    }
  })

  it('accepts a well-formed offer and refuses the rest', () => {
    const good = { id: 'abcdef12-3456', name: 'report.pdf', size: 10, mime: 'application/pdf' }
    expect(parseOffer(good)).toEqual(good)
    expect(parseOffer({ ...good, id: 'x' })).toBeNull()
    expect(parseOffer({ ...good, name: '' })).toBeNull()
    expect(parseOffer({ ...good, name: 'n'.repeat(256) })).toBeNull()
    expect(parseOffer({ ...good, size: -1 })).toBeNull()
    expect(parseOffer({ ...good, size: 2 ** 60 })).toBeNull()
  })
})

describe('progress figures', () => {
  it('measures speed over a sliding window', () => {
    const meter = new SpeedMeter(1000)
    expect(meter.add(0, 0)).toBe(0)
    expect(meter.add(500, 500_000)).toBe(1_000_000)
    expect(meter.add(1000, 1_000_000)).toBe(1_000_000)
    expect(meter.add(2000, 1_500_000)).toBe(500_000)
  })

  it('formats sizes, time left and percentages', () => {
    expect(formatBytes(512)).toBe('512 B')
    expect(formatBytes(50 * 1024 * 1024)).toBe('50 MB')
    expect(formatTimeLeft(10_000_000, 1_000_000)).toBe('10 s left')
    expect(formatTimeLeft(600_000_000, 1_000_000)).toBe('10 min left')
    expect(formatTimeLeft(100, 0)).toBe('')
    expect(percent({ done: 0, size: 0 })).toBe(100)
    expect(percent({ done: 999, size: 1000 })).toBe(99)
  })
})

describe('finished cards', () => {
  const card = { direction: 'out' as const, downloadUrl: null, saved: false }
  it('go away on their own unless they hold a received file not yet saved', () => {
    for (const state of ['done', 'failed', 'cancelled', 'declined', 'offline', 'withdrawn'] as const) {
      expect(mayGoAway({ ...card, state })).toBe(true)
    }
    for (const state of ['offered', 'waiting', 'active', 'interrupted', 'verifying'] as const) {
      expect(mayGoAway({ ...card, state })).toBe(false)
    }
    const received = { direction: 'in' as const, state: 'done' as const, downloadUrl: 'blob:x', saved: false }
    expect(mayGoAway(received)).toBe(false)
    expect(mayGoAway({ ...received, saved: true })).toBe(true)
    expect(mayGoAway({ ...received, downloadUrl: null })).toBe(true) // written where the person chose
  })
})
