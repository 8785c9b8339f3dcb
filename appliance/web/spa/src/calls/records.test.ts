import { describe, expect, it } from 'vitest'
import { callLength, recordText } from './records'

describe('call records', () => {
  it('says a length the way people do', () => {
    expect(callLength(0)).toBe('0 s')
    expect(callLength(35_400)).toBe('35 s')
    expect(callLength(4 * 60_000 + 10_000)).toBe('4 min')
    expect(callLength(65 * 60_000)).toBe('1 h 5 min')
    expect(callLength(120 * 60_000)).toBe('2 h')
  })

  it('words each kind of record for the caller and for everyone else', () => {
    expect(recordText({ id: 1, event: 'started' }, 'Alice', false)).toBe('Alice started a call')
    expect(recordText({ id: 1, event: 'started' }, 'Alice', true)).toBe('You started a call')
    expect(recordText({ id: 1, event: 'ended', duration_ms: 240_000 }, 'Alice', false)).toBe('Call ended · 4 min')
    expect(recordText({ id: 1, event: 'missed' }, 'Alice', false)).toBe('Missed call from Alice')
    expect(recordText({ id: 1, event: 'missed' }, 'Alice', true)).toBe('Call not answered')
    expect(recordText({ id: 1, event: 'ended', interrupted: true }, 'Alice', false)).toBe(
      'Call ended when the server stopped',
    )
  })
})
