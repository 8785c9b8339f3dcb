import { describe, expect, it } from 'vitest'
import { P2pMessageDb, type StoredP2pMessage } from './messageDb'

const m = (id: string, room: number, at: number, delivered = false): StoredP2pMessage => ({
  id: `msg-${id}-0000`,
  room,
  author: 1,
  body: `body ${id}`,
  created_at: at,
  delivered,
})

describe('P2pMessageDb', () => {
  it('keeps each message once, per room, in time order, and remembers delivery', async () => {
    const db = await P2pMessageDb.open(1001)
    expect(await db.add([m('b', 1, 20), m('a', 1, 10), m('x', 2, 5)])).toHaveLength(3)
    // A device sending what we already hold adds nothing.
    expect(await db.add([m('a', 1, 10), m('c', 1, 30)])).toEqual([m('c', 1, 30)])
    expect((await db.room(1)).map((x) => x.body)).toEqual(['body a', 'body b', 'body c'])
    expect(await db.markDelivered(['msg-a-0000', 'msg-zz-0000'])).toEqual(['msg-a-0000'])
    expect(await db.markDelivered(['msg-a-0000'])).toEqual([])
    expect((await db.room(1))[0]?.delivered).toBe(true)
    db.close()
  })

  it('keeps each signed-in user apart', async () => {
    const mine = await P2pMessageDb.open(2001)
    await mine.add([m('a', 7, 1)])
    const theirs = await P2pMessageDb.open(2002)
    expect(await theirs.room(7)).toEqual([])
    mine.close()
    theirs.close()
  })
})
