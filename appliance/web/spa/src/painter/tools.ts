// Turning a pointer gesture into an op: a growing stroke, or a shape from corner to corner.
import { MAX_STROKE_POINTS, newOpId, round, type PaintOp } from './ops'

export type Tool = 'pen' | 'eraser' | 'line' | 'arrow' | 'rect' | 'ellipse' | 'text' | 'pan'
export type ShapeTool = 'line' | 'arrow' | 'rect' | 'ellipse'

export interface Brush {
  color: string
  size: number
  fill: boolean
}

export const COLORS = ['#1b1e24', '#d03030', '#e08a1e', '#f2c94c', '#23a55a', '#2f62e0', '#8e44ad', '#ffffff']
export const SIZES = [2, 4, 8, 16, 32]
export const ERASER_SCALE = 4 // the eraser is wider than the pen at the same size

/** One gesture in progress; `op` is what it would add now (drawn on the overlay). */
export class Gesture {
  readonly op: PaintOp
  /** Stroke points not yet streamed to the others. */
  private unsent: number[] = []

  constructor(
    readonly tool: Exclude<Tool, 'text' | 'pan'>,
    brush: Brush,
    x: number,
    y: number,
  ) {
    const [bx, by] = [round(x), round(y)]
    const freehand = tool === 'pen' || tool === 'eraser'
    this.op = {
      id: newOpId(),
      kind: freehand ? 'stroke' : tool,
      color: tool === 'eraser' ? '#000000' : brush.color,
      size: tool === 'eraser' ? brush.size * ERASER_SCALE : brush.size,
      points: freehand ? [bx, by] : [bx, by, bx, by],
    }
    if (tool === 'eraser') this.op.erase = true
    if (brush.fill && (tool === 'rect' || tool === 'ellipse')) this.op.fill = true
    if (freehand) this.unsent = [bx, by]
  }

  get freehand(): boolean {
    return this.op.kind === 'stroke'
  }

  /** False when a stroke is full: finish it and go on with a new one from this point. */
  move(x: number, y: number): boolean {
    const [bx, by] = [round(x), round(y)]
    const points = this.op.points as number[]
    if (!this.freehand) {
      points[2] = bx
      points[3] = by
      return true
    }
    if (points[points.length - 2] === bx && points[points.length - 1] === by) return true
    if (points.length >= MAX_STROKE_POINTS * 2) return false
    points.push(bx, by)
    this.unsent.push(bx, by)
    return true
  }

  /** Points drawn since the last call (for `paint.stroke`). */
  takeUnsent(): number[] {
    const out = this.unsent
    this.unsent = []
    return out
  }

  /** The op to add, or null for a shape of no size (a stray click). */
  finish(): PaintOp | null {
    const p = this.op.points as number[]
    if (!this.freehand && p[0] === p[2] && p[1] === p[3]) return null
    return this.op
  }
}
