import { describe, expect, it } from 'vitest'
import { SocketError } from '@/api/socket'
import { FeatureChannel } from '@/sync/featureChannel'
import { BoardSession } from './boardSession'
import type { PaintOp } from './ops'

/** A socket stand-in: records frames, answers requests with what the test queues. */
class FakeServer {
  sent: Array<Record<string, unknown>> = []
  answers: Array<(frame: Record<string, unknown>) => unknown> = []
  transport = {
    send: (frame: Record<string, unknown>) => {
      this.sent.push(frame)
      return true
    },
    request: <T>(frame: Record<string, unknown>): Promise<T> => {
      this.sent.push(frame)
      const answer = this.answers.shift()
      if (!answer) return Promise.reject(new SocketError('disconnected', 'gone'))
      try {
        return Promise.resolve(answer(frame) as T)
      } catch (error) {
        return Promise.reject(error)
      }
    },
  }
}

const flush = () => new Promise((resolve) => setTimeout(resolve, 0))
const op = (id: string, seq?: number): PaintOp => ({ id, kind: 'stroke', color: '#000000', size: 2, points: [seq ?? 0, 0], ...(seq ? { seq } : {}) })

function setup(): { server: FakeServer; channel: FeatureChannel; board: BoardSession; errors: string[] } {
  const server = new FakeServer()
  const channel = new FeatureChannel()
  channel.attach(server.transport)
  const errors: string[] = []
  const board = new BoardSession(channel, 7, () => undefined, (m) => errors.push(m))
  return { server, channel, board, errors }
}

describe('BoardSession', () => {
  it('loads every page, then applies live ops that came meanwhile, in seq order', async () => {
    const { server, channel, board } = setup()
    server.answers.push(
      () => ({ board: { seq: 2, ops: [op('a', 1)], next: 1 }, viewers: [{ user: 1, conn: 5 }] }),
      () => {
        // An op by someone else lands while the second page is on its way.
        channel.dispatch({ type: 'paint.op', room: 7, op: op('c', 3), seq: 3 })
        return { ops: [op('b', 2)], next: null }
      },
    )
    board.start()
    channel.ready(5)
    await flush()
    expect(board.state).toBe('open')
    expect(board.stored.map((o) => o.id)).toEqual(['a', 'b', 'c'])
    channel.dispatch({ type: 'paint.op', room: 8, op: op('other room', 4), seq: 4 })
    channel.dispatch({ type: 'paint.op', room: 7, op: op('c', 3), seq: 3 }) // seen already
    expect(board.stored).toHaveLength(3)
  })

  it('keeps our op until the server has it and resends it with the same id after a reconnect', async () => {
    const { server, channel, board } = setup()
    server.answers.push(() => ({ board: { seq: 0, ops: [], next: null }, viewers: [] }))
    board.start()
    channel.ready(1)
    await flush()
    board.draw(op('mine'))
    await flush() // no answer: the socket dropped
    expect(board.pending.map((o) => o.id)).toEqual(['mine'])
    expect(board.ops.map((o) => o.id)).toEqual(['mine'])
    channel.lost()
    server.answers.push(
      () => ({ board: { seq: 0, ops: [], next: null }, viewers: [] }),
      (frame) => ({ seq: (frame.op as PaintOp).id === 'mine' ? 1 : 0 }),
    )
    channel.ready(2)
    await flush()
    expect(board.pending).toEqual([])
    expect(board.stored).toMatchObject([{ id: 'mine', seq: 1 }])
    const sentOps = server.sent.filter((f) => f.type === 'paint.op').map((f) => (f.op as PaintOp).id)
    expect(sentOps).toEqual(['mine', 'mine'])
  })

  it('drops an op the server refuses, says why, and undoes and redoes our own', async () => {
    const { server, channel, board, errors } = setup()
    server.answers.push(() => ({ board: { seq: 0, ops: [], next: null }, viewers: [] }))
    board.start()
    channel.ready(1)
    await flush()
    server.answers.push(() => {
      throw new SocketError('too_large', 'This board is full.')
    })
    board.draw(op('big'))
    await flush()
    expect(board.ops).toEqual([])
    expect(errors).toEqual(['This board is full.'])
    expect(board.canUndo).toBe(false)

    server.answers.push(() => ({ seq: 1 }), () => ({ seq: 2 }))
    board.draw(op('kept'))
    board.undo()
    await flush()
    const undo = board.stored[1]
    expect(undo).toMatchObject({ kind: 'undo', target: 'kept', seq: 2 })
    expect(board.canRedo).toBe(true)
  })

  it('shows strokes others are drawing and forgets them and their cursors when they leave', async () => {
    const { server, channel, board } = setup()
    server.answers.push(() => ({ board: { seq: 0, ops: [], next: null }, viewers: [] }))
    board.start()
    channel.ready(1)
    await flush()
    const piece = { type: 'paint.stroke', room: 7, user: 2, conn: 9, id: 's', color: '#d03030', size: 4, erase: false }
    channel.dispatch({ ...piece, points: [0, 0, 1, 1] })
    channel.dispatch({ ...piece, points: [2, 2] })
    channel.dispatch({ type: 'paint.cursor', room: 7, user: 2, conn: 9, x: 2, y: 2 })
    expect(board.previews.get('s')?.points).toEqual([0, 0, 1, 1, 2, 2])
    expect(board.cursors.get(9)).toMatchObject({ user: 2, x: 2, y: 2 })
    channel.dispatch({ type: 'paint.viewers', room: 7, viewers: [{ user: 1, conn: 1 }] })
    expect(board.previews.size).toBe(0)
    expect(board.cursors.size).toBe(0)
  })
})
