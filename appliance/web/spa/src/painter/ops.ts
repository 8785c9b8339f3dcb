// The board's operations as the server stores them (docs/api/painter.md), and the one rule
// for what a board shows, the same as the server's (appliance/painter/ops.py).

export type DrawKind = 'stroke' | 'line' | 'rect' | 'ellipse' | 'arrow' | 'text' | 'image' | 'clear'
export type OpKind = DrawKind | 'undo' | 'redo'

export interface PaintOp {
  id: string
  kind: OpKind
  /** Set by the server; absent on an op this tab has not had acknowledged yet. */
  author?: number
  seq?: number
  color?: string
  size?: number
  /** Flat [x0, y0, x1, y1, ...] in board units. */
  points?: number[]
  erase?: boolean
  fill?: boolean
  text?: string
  src?: string
  target?: string
}

/** Limits the server enforces (defaults of docs/configuration.md's painter section). */
export const MAX_STROKE_POINTS = 5000
export const MAX_IMAGE_CHARS = 48_000
export const MAX_TEXT_CHARS = 500
export const MAX_LIVE_POINTS = 200

export function newOpId(): string {
  const bytes = new Uint8Array(12)
  crypto.getRandomValues(bytes)
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
}

/** Board coordinates go over the wire with one decimal: what we draw is what others get. */
export function round(value: number): number {
  return Math.round(value * 10) / 10
}

/**
 * What is drawn, in order: ops not hidden by an undo (or shown again by a redo), after the
 * last clear still in effect.
 */
export function visible(ops: readonly PaintOp[]): PaintOp[] {
  const hidden = new Set<string>()
  for (const op of ops) {
    if (op.kind === 'undo' && op.target) hidden.add(op.target)
    else if (op.kind === 'redo' && op.target) hidden.delete(op.target)
  }
  const drawn = ops.filter((op) => op.kind !== 'undo' && op.kind !== 'redo' && !hidden.has(op.id))
  let lastClear = -1
  drawn.forEach((op, i) => {
    if (op.kind === 'clear') lastClear = i
  })
  return drawn.slice(lastClear + 1)
}

