// The board's two canvases: the picture (stored and pending ops, on white) and, above it,
// what is being drawn right now. Redrawn at most once per animation frame.
import { onBeforeUnmount, onMounted, ref, type Ref, type ShallowRef } from 'vue'
import type { BoardSession, Change } from './boardSession'
import type { PaintOp } from './ops'
import { BoardRenderer, ImageCache, renderOverlay, type View } from './render'

export function useBoardCanvas(session: ShallowRef<BoardSession | null>, view: Ref<View>, drawing: () => PaintOp | null) {
  const stage = ref<HTMLDivElement | null>(null)
  const boardCanvas = ref<HTMLCanvasElement | null>(null)
  const overlayCanvas = ref<HTMLCanvasElement | null>(null)
  const tick = ref(0) // bumped on every change, for what the template derives from the session
  const renderer = new BoardRenderer()
  const images = new ImageCache(() => {
    renderer.invalidate()
    schedule('board')
  })
  const scale = window.devicePixelRatio || 1
  let frame = 0
  let dirtyBoard = false
  let dirtyOverlay = false

  function schedule(what: Change): void {
    if (what === 'board') dirtyBoard = true
    if (what !== 'viewers') dirtyOverlay = true
    tick.value++
    if (frame) return
    frame = requestAnimationFrame(draw)
  }

  function draw(): void {
    frame = 0
    const s = session.value
    const board = boardCanvas.value
    const overlay = overlayCanvas.value
    if (!s || !board || !overlay) return
    if (dirtyBoard) renderer.render(board, s.ops, view.value, scale, images.get)
    if (dirtyOverlay) {
      const now: PaintOp[] = [...s.previews.values()]
      const mine = drawing()
      if (mine) now.push(mine)
      renderOverlay(overlay, now, view.value, scale, images.get)
    }
    dirtyBoard = dirtyOverlay = false
  }

  function resize(): void {
    const el = stage.value
    if (!el) return
    for (const canvas of [boardCanvas.value, overlayCanvas.value]) {
      if (!canvas) continue
      canvas.width = Math.round(el.clientWidth * scale)
      canvas.height = Math.round(el.clientHeight * scale)
    }
    schedule('board')
  }

  const observer = new ResizeObserver(resize)
  onMounted(() => {
    if (stage.value) observer.observe(stage.value)
  })
  onBeforeUnmount(() => {
    observer.disconnect()
    if (frame) cancelAnimationFrame(frame)
  })

  return { stage, boardCanvas, overlayCanvas, tick, schedule }
}
