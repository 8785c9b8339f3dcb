// Drawing ops on a canvas, deterministically: the same ops, view and canvas size give the
// same pixels in every tab (a late joiner's board equals everyone else's).
import { visible, type PaintOp } from './ops'

/** The board point shown at the canvas's top-left corner, and the zoom (screen px per unit). */
export interface View {
  x: number
  y: number
  zoom: number
}

export const HOME_VIEW: View = { x: 0, y: 0, zoom: 1 }
export const BACKGROUND = '#ffffff'
export const FONT = 'sans-serif'

/** A decoded image for a data URL, or null while it loads. */
export type ImageSource = (src: string) => CanvasImageSource | null

export function toBoard(view: View, sx: number, sy: number): [number, number] {
  return [view.x + sx / view.zoom, view.y + sy / view.zoom]
}

export function toScreen(view: View, bx: number, by: number): [number, number] {
  return [(bx - view.x) * view.zoom, (by - view.y) * view.zoom]
}

/** Zoom by `factor` keeping the board point under (sx, sy) where it is on screen. */
export function zoomAt(view: View, factor: number, sx: number, sy: number): View {
  const zoom = Math.min(8, Math.max(0.125, view.zoom * factor))
  const [bx, by] = toBoard(view, sx, sy)
  return { zoom, x: bx - sx / zoom, y: by - sy / zoom }
}

function setView(ctx: CanvasRenderingContext2D, view: View, scale: number): void {
  const k = view.zoom * scale
  ctx.setTransform(k, 0, 0, k, -view.x * k, -view.y * k)
}

function path(ctx: CanvasRenderingContext2D, points: readonly number[]): void {
  ctx.beginPath()
  ctx.moveTo(points[0] ?? 0, points[1] ?? 0)
  for (let i = 2; i + 1 < points.length; i += 2) ctx.lineTo(points[i] as number, points[i + 1] as number)
}

/** A free-hand line through the points, smoothed: curves through the midpoints between
 * them, each point as the control (so pointer samples do not show as corners). */
function smooth(ctx: CanvasRenderingContext2D, p: readonly number[]): void {
  const at = (i: number) => p[i] as number
  ctx.beginPath()
  ctx.moveTo(at(0), at(1))
  const n = p.length / 2
  if (n === 2) ctx.lineTo(at(2), at(3))
  for (let i = 1; i < n - 1; i++) {
    const [x, y] = [at(2 * i), at(2 * i + 1)]
    const last = i === n - 2
    const nx = last ? at(2 * i + 2) : (x + at(2 * i + 2)) / 2
    const ny = last ? at(2 * i + 3) : (y + at(2 * i + 3)) / 2
    ctx.quadraticCurveTo(x, y, nx, ny)
  }
}

function strokeOp(ctx: CanvasRenderingContext2D, op: PaintOp): void {
  const p = op.points ?? []
  const size = op.size ?? 1
  ctx.globalCompositeOperation = op.erase ? 'destination-out' : 'source-over'
  if (p.length === 2) {
    ctx.beginPath()
    ctx.arc(p[0] as number, p[1] as number, size / 2, 0, Math.PI * 2)
    ctx.fill()
  } else {
    smooth(ctx, p)
    ctx.stroke()
  }
  ctx.globalCompositeOperation = 'source-over'
}

function arrowHead(ctx: CanvasRenderingContext2D, p: readonly number[], size: number): void {
  const [x1, y1, x2, y2] = p as [number, number, number, number]
  const angle = Math.atan2(y2 - y1, x2 - x1)
  const length = Math.max(10, size * 3)
  ctx.beginPath()
  for (const side of [-1, 1]) {
    const a = angle + Math.PI - (side * Math.PI) / 7
    ctx.moveTo(x2, y2)
    ctx.lineTo(x2 + Math.cos(a) * length, y2 + Math.sin(a) * length)
  }
  ctx.stroke()
}

export function drawOp(ctx: CanvasRenderingContext2D, op: PaintOp, image: ImageSource): void {
  const p = op.points ?? []
  const color = op.color ?? '#000000'
  ctx.strokeStyle = color
  ctx.fillStyle = color
  ctx.lineWidth = op.size ?? 1
  ctx.lineCap = 'round'
  ctx.lineJoin = 'round'
  const [x1, y1, x2, y2] = p as [number, number, number, number]
  switch (op.kind) {
    case 'stroke':
      strokeOp(ctx, op)
      break
    case 'line':
    case 'arrow':
      path(ctx, p)
      ctx.stroke()
      if (op.kind === 'arrow') arrowHead(ctx, p, op.size ?? 1)
      break
    case 'rect':
      ctx.beginPath()
      ctx.rect(Math.min(x1, x2), Math.min(y1, y2), Math.abs(x2 - x1), Math.abs(y2 - y1))
      if (op.fill) ctx.fill()
      else ctx.stroke()
      break
    case 'ellipse':
      ctx.beginPath()
      ctx.ellipse((x1 + x2) / 2, (y1 + y2) / 2, Math.abs(x2 - x1) / 2, Math.abs(y2 - y1) / 2, 0, 0, Math.PI * 2)
      if (op.fill) ctx.fill()
      else ctx.stroke()
      break
    case 'text': {
      const size = op.size ?? 16
      ctx.font = `${size}px ${FONT}`
      ctx.textBaseline = 'top'
      ;(op.text ?? '').split('\n').forEach((line, i) => ctx.fillText(line, x1, y1 + i * size * 1.25))
      break
    }
    case 'image': {
      const img = op.src ? image(op.src) : null
      if (img) ctx.drawImage(img, x1, y1, x2, y2)
      break
    }
    default:
      break
  }
}

/**
 * The board as shown: a transparent layer with every visible op (erasing cuts through to
 * transparency, pictures included), laid on white on the visible canvas. While ops are
 * only appended (the common case: someone draws) the layer gets just the new ones, which
 * gives the same pixels as drawing all again, since each op is drawn on its own anyway.
 */
export class BoardRenderer {
  private readonly layer = document.createElement('canvas')
  /** Ids of the ops the layer shows (hidden ones included), and the view it shows. */
  private drawn: string[] = []
  private key = ''

  /** Draw everything again next time (a picture finished loading). */
  invalidate(): void {
    this.key = ''
  }

  render(target: HTMLCanvasElement, ops: readonly PaintOp[], view: View, scale: number, image: ImageSource): void {
    const layer = this.layer
    if (layer.width !== target.width || layer.height !== target.height) {
      layer.width = target.width
      layer.height = target.height
    }
    const lctx = layer.getContext('2d')
    const ctx = target.getContext('2d')
    if (!lctx || !ctx) return
    const key = `${view.x} ${view.y} ${view.zoom} ${scale} ${layer.width}x${layer.height}`
    setView(lctx, view, scale)
    const tail = key === this.key ? this.appended(ops) : null
    if (tail) {
      for (const op of tail) drawOp(lctx, op, image)
    } else {
      lctx.setTransform(1, 0, 0, 1, 0, 0)
      lctx.clearRect(0, 0, layer.width, layer.height)
      setView(lctx, view, scale)
      for (const op of visible(ops)) drawOp(lctx, op, image)
    }
    this.drawn = ops.map((op) => op.id)
    this.key = key
    ctx.setTransform(1, 0, 0, 1, 0, 0)
    ctx.fillStyle = BACKGROUND
    ctx.fillRect(0, 0, target.width, target.height)
    ctx.drawImage(layer, 0, 0)
  }

  /** The ops added after the ones drawn, if that is all that changed and they only draw. */
  private appended(ops: readonly PaintOp[]): PaintOp[] | null {
    const drawn = this.drawn
    if (ops.length < drawn.length) return null
    for (let i = 0; i < drawn.length; i++) if (ops[i]?.id !== drawn[i]) return null
    const tail = ops.slice(drawn.length)
    const plain = tail.every((op) => op.kind !== 'undo' && op.kind !== 'redo' && op.kind !== 'clear')
    return plain ? tail : null
  }
}

/** Things being drawn right now (ours and others'), on the transparent overlay. */
export function renderOverlay(
  overlay: HTMLCanvasElement,
  ops: readonly PaintOp[],
  view: View,
  scale: number,
  image: ImageSource,
): void {
  const ctx = overlay.getContext('2d')
  if (!ctx) return
  ctx.setTransform(1, 0, 0, 1, 0, 0)
  ctx.clearRect(0, 0, overlay.width, overlay.height)
  setView(ctx, view, scale)
  for (const op of ops) {
    // An eraser being drawn shows as a faint trail: the board itself changes when it lands.
    drawOp(ctx, op.erase ? { ...op, erase: false, color: '#c0c4cc' } : op, image)
  }
}

/** Decodes data URLs once and asks for a new frame when one is ready. */
export class ImageCache {
  private readonly images = new Map<string, HTMLImageElement>()
  constructor(private readonly loaded: () => void) {}

  get = (src: string): CanvasImageSource | null => {
    let img = this.images.get(src)
    if (!img) {
      img = new Image()
      img.onload = () => this.loaded()
      img.src = src
      this.images.set(src, img)
    }
    return img.complete && img.naturalWidth > 0 ? img : null
  }
}
