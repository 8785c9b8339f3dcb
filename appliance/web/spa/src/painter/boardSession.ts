// One room's board as this tab sees it: opens it over the socket (again after every
// reconnect), keeps the stored ops in seq order, sends ours (retried with the same id until
// the server has them), and tracks what others are drawing and where their pointers are.
import { SocketError } from '@/api/socket'
import type { FeatureChannel, FeatureFrame } from '@/sync/featureChannel'
import { newOpId, type PaintOp } from './ops'

export interface Viewer {
  user: number
  conn: number
}

export interface RemoteCursor extends Viewer {
  x: number
  y: number
}

interface Board {
  seq: number
  ops: PaintOp[]
  next: number | null
}

/** What changed: the picture, what is being drawn (previews, cursors), or who is here. */
export type Change = 'board' | 'overlay' | 'viewers'
export type BoardState = 'opening' | 'open' | 'offline'

function refused(error: unknown): error is SocketError {
  return error instanceof SocketError && !error.transient
}

export class BoardSession {
  /** Stored ops, in seq order. */
  stored: PaintOp[] = []
  /** Ours, not yet acknowledged, in the order drawn. */
  pending: PaintOp[] = []
  /** Strokes others are drawing, by op id. */
  readonly previews = new Map<string, PaintOp & { conn: number }>()
  readonly cursors = new Map<number, RemoteCursor>()
  viewers: Viewer[] = []
  state: BoardState = 'offline'
  private seq = 0
  private readonly ids = new Set<string>()
  private early: PaintOp[] | null = null // live ops that arrive while the board loads
  private readonly undoStack: string[] = []
  private redoStack: string[] = []
  private readonly unsubscribe: Array<() => void> = []

  constructor(
    private readonly channel: FeatureChannel,
    readonly room: number,
    private readonly changed: (what: Change) => void,
    private readonly failed: (message: string) => void,
  ) {}

  start(): void {
    this.unsubscribe.push(
      this.channel.on('paint.', (frame) => this.receive(frame)),
      this.channel.onReady(() => void this.open()),
      this.channel.onLost(() => this.lost()),
    )
  }

  stop(): void {
    for (const off of this.unsubscribe.splice(0)) off()
    if (this.state !== 'offline') this.channel.send({ type: 'paint.close', room: this.room })
    this.state = 'offline'
  }

  /** Everything to draw on the board: stored ops, then ours on their way. */
  get ops(): PaintOp[] {
    return this.pending.length ? [...this.stored, ...this.pending] : this.stored
  }

  get canUndo(): boolean {
    return this.undoStack.length > 0
  }

  get canRedo(): boolean {
    return this.redoStack.length > 0
  }

  // -- our ops -------------------------------------------------------------------------

  /** A new drawing op (or a clear): shown at once, sent, and undoable. */
  draw(op: PaintOp): void {
    this.undoStack.push(op.id)
    this.redoStack = []
    this.add(op)
  }

  undo(): void {
    const target = this.undoStack.pop()
    if (target === undefined) return
    this.redoStack.push(target)
    this.add({ id: newOpId(), kind: 'undo', target })
  }

  redo(): void {
    const target = this.redoStack.pop()
    if (target === undefined) return
    this.undoStack.push(target)
    this.add({ id: newOpId(), kind: 'redo', target })
  }

  private add(op: PaintOp): void {
    this.pending.push(op)
    this.changed('board')
    if (this.state === 'open') void this.push(op)
  }

  private async push(op: PaintOp): Promise<void> {
    try {
      const reply = await this.channel.request<{ seq: number }>({ type: 'paint.op', room: this.room, op })
      this.pending = this.pending.filter((p) => p.id !== op.id)
      this.store({ ...op, seq: reply.seq })
      this.changed('board')
    } catch (error) {
      if (!refused(error)) return // sent again after the next (re)open, with the same id
      this.pending = this.pending.filter((p) => p.id !== op.id)
      const i = this.undoStack.lastIndexOf(op.id)
      if (i >= 0) this.undoStack.splice(i, 1)
      this.changed('board')
      this.failed(error.message)
    }
  }

  /** A piece of the stroke we are drawing, for others to see it grow (never stored). */
  streamStroke(part: { id: string; color: string; size: number; erase: boolean; points: number[] }): void {
    if (this.state === 'open') this.channel.send({ type: 'paint.stroke', room: this.room, ...part })
  }

  moveCursor(x: number, y: number): void {
    if (this.state === 'open') this.channel.send({ type: 'paint.cursor', room: this.room, x, y })
  }

  // -- the server's side ---------------------------------------------------------------

  private async open(): Promise<void> {
    this.state = 'opening'
    this.early = []
    try {
      const opened = await this.channel.request<{ board: Board; viewers: Viewer[] }>({
        type: 'paint.open',
        room: this.room,
      })
      const { board } = opened
      const ops = [...board.ops]
      let after = board.next
      while (after !== null) {
        const page = await this.channel.request<{ ops: PaintOp[]; next: number | null }>({
          type: 'paint.ops',
          room: this.room,
          after,
          until: board.seq,
        })
        ops.push(...page.ops)
        after = page.next
      }
      this.stored = []
      this.ids.clear()
      this.seq = 0
      for (const op of ops) this.store(op)
      for (const op of this.early ?? []) this.store(op)
      this.early = null
      this.viewers = opened.viewers
      this.state = 'open'
      this.pending = this.pending.filter((p) => !this.ids.has(p.id))
      for (const op of this.pending) void this.push(op)
      this.changed('board')
      this.changed('viewers')
    } catch (error) {
      this.early = null
      if (this.state === 'opening') this.state = 'offline'
      if (refused(error)) this.failed(error.message)
    }
  }

  private lost(): void {
    this.state = 'offline'
    this.previews.clear()
    this.cursors.clear()
    this.viewers = []
    this.changed('overlay')
    this.changed('viewers')
  }

  private store(op: PaintOp): void {
    if (op.seq === undefined || this.ids.has(op.id)) return
    this.ids.add(op.id)
    this.previews.delete(op.id)
    const last = this.stored[this.stored.length - 1]
    if (!last || (last.seq ?? 0) < op.seq) this.stored.push(op)
    else {
      const at = this.stored.findIndex((s) => (s.seq ?? 0) > (op.seq as number))
      this.stored.splice(at < 0 ? this.stored.length : at, 0, op)
    }
    this.seq = Math.max(this.seq, op.seq)
  }

  private receive(frame: FeatureFrame): void {
    if (frame.room !== this.room) return
    switch (frame.type) {
      case 'paint.op': {
        const op = frame.op as PaintOp
        if (this.early) this.early.push(op)
        else if (this.state === 'open') {
          this.store(op)
          this.changed('board')
          this.changed('overlay')
        }
        break
      }
      case 'paint.stroke': {
        const id = String(frame.id)
        if (this.ids.has(id)) break
        const earlier = this.previews.get(id)
        const points = (frame.points as number[]) ?? []
        if (earlier) earlier.points = [...(earlier.points ?? []), ...points]
        else
          this.previews.set(id, {
            id,
            kind: 'stroke',
            conn: Number(frame.conn),
            color: String(frame.color),
            size: Number(frame.size),
            erase: frame.erase === true,
            points,
          })
        this.changed('overlay')
        break
      }
      case 'paint.cursor':
        this.cursors.set(Number(frame.conn), {
          user: Number(frame.user),
          conn: Number(frame.conn),
          x: Number(frame.x),
          y: Number(frame.y),
        })
        this.changed('viewers')
        break
      case 'paint.viewers': {
        this.viewers = frame.viewers as Viewer[]
        const here = new Set(this.viewers.map((v) => v.conn))
        for (const [id, preview] of this.previews) if (!here.has(preview.conn)) this.previews.delete(id)
        for (const conn of this.cursors.keys()) if (!here.has(conn)) this.cursors.delete(conn)
        this.changed('viewers')
        this.changed('overlay')
        break
      }
      default:
        break
    }
  }
}
