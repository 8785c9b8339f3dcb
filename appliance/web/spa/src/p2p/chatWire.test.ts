import { describe, expect, it } from 'vitest'
import { MAX_BATCH, MAX_BATCH_CHARS, parseSyncMessage, planBatches } from './chatWire'
import { isP2pMessage, type P2pMessage } from './messageDb'

const message = (i: number, body = 'hi'): P2pMessage => ({
  id: `id-${String(i).padStart(8, '0')}`,
  room: 3,
  author: 1,
  body,
  created_at: i,
})

describe('peer-to-peer chat wire', () => {
  it('reads have, msgs and got, and refuses the malformed', () => {
    expect(parseSyncMessage('{"t":"have","ids":["a"]}')).toEqual({ t: 'have', ids: ['a'] })
    expect(parseSyncMessage('{"t":"got","ids":[]}')).toEqual({ t: 'got', ids: [] })
    expect(parseSyncMessage(JSON.stringify({ t: 'msgs', messages: [message(1)] }))?.t).toBe('msgs')
    for (const bad of ['x', '{"t":"have"}', '{"t":"have","ids":[1]}', '{"t":"nope"}']) {
      expect(parseSyncMessage(bad), bad).toBeNull()
    }
    const tooMany = { t: 'msgs', messages: Array.from({ length: MAX_BATCH + 1 }, (_, i) => message(i)) }
    expect(parseSyncMessage(JSON.stringify(tooMany))).toBeNull()
  })

  it('checks each message it is given', () => {
    expect(isP2pMessage(message(1))).toBe(true)
    expect(isP2pMessage({ ...message(1), body: '' })).toBe(false)
    expect(isP2pMessage({ ...message(1), body: 'x'.repeat(10_001) })).toBe(false)
    expect(isP2pMessage({ ...message(1), id: 'short' })).toBe(false)
    expect(isP2pMessage({ ...message(1), author: '1' })).toBe(false)
  })

  it('batches by count and by size, keeping every message once and in order', () => {
    const many = Array.from({ length: 450 }, (_, i) => message(i))
    const byCount = planBatches(many)
    expect(byCount.map((b) => b.length)).toEqual([200, 200, 50])
    const big = Array.from({ length: 40 }, (_, i) => message(i, 'x'.repeat(10_000)))
    const bySize = planBatches(big)
    for (const batch of bySize) expect(JSON.stringify(batch).length).toBeLessThanOrEqual(MAX_BATCH_CHARS + 100)
    expect(bySize.flat()).toEqual(big)
  })
})
