// Pointer, wheel and keyboard on the board: drawing gestures (streamed while drawn), text,
// pan and zoom, undo and redo.
import { ref, type Ref, type ShallowRef } from 'vue'
import type { BoardSession, Change } from './boardSession'
import { MAX_LIVE_POINTS, MAX_TEXT_CHARS, newOpId, round, type PaintOp } from './ops'
import { toBoard, zoomAt, type View } from './render'
import { Gesture, type Brush, type Tool } from './tools'

const STREAM_EVERY_MS = 50 // pieces of a stroke being drawn: ~20 frames a second
const CURSOR_EVERY_MS = 66

export interface BoardInputDeps {
  session: ShallowRef<BoardSession | null>
  view: Ref<View>
  tool: Ref<Tool>
  brush: Ref<Brush>
  setView: (view: View) => void
  schedule: (what: Change) => void
}

export function useBoardInput({ session, view, tool, brush, setView, schedule }: BoardInputDeps) {
  const textBox = ref<{ x: number; y: number; text: string } | null>(null)
  const textInput = ref<HTMLTextAreaElement | null>(null)
  let gesture: Gesture | null = null
  let panFrom: { x: number; y: number; view: View } | null = null
  let lastStream = 0
  let lastCursor = 0

  function at(e: MouseEvent): [number, number] {
    return toBoard(view.value, e.offsetX, e.offsetY)
  }

  function down(e: PointerEvent): void {
    if (!session.value || textBox.value) return
    ;(e.target as Element).setPointerCapture?.(e.pointerId)
    const [x, y] = at(e)
    if (tool.value === 'pan' || e.button === 1) {
      panFrom = { x: e.clientX, y: e.clientY, view: view.value }
    } else if (tool.value === 'text') {
      textBox.value = { x: round(x), y: round(y), text: '' }
      requestAnimationFrame(() => textInput.value?.focus())
    } else if (e.button === 0) {
      gesture = new Gesture(tool.value, brush.value, x, y)
      lastStream = 0
      stream()
      schedule('overlay')
    }
  }

  function stream(): void {
    const s = session.value
    if (!gesture?.freehand || !s) return
    const now = performance.now()
    if (now - lastStream < STREAM_EVERY_MS) return
    lastStream = now
    const op = gesture.op
    const piece = { id: op.id, color: op.color as string, size: op.size as number, erase: op.erase === true }
    const points = gesture.takeUnsent()
    for (let i = 0; i < points.length; i += MAX_LIVE_POINTS * 2) {
      s.streamStroke({ ...piece, points: points.slice(i, i + MAX_LIVE_POINTS * 2) })
    }
  }

  function move(e: PointerEvent): void {
    const s = session.value
    if (!s) return
    const [x, y] = at(e)
    if (panFrom) {
      const { view: from } = panFrom
      setView({ ...from, x: from.x - (e.clientX - panFrom.x) / from.zoom, y: from.y - (e.clientY - panFrom.y) / from.zoom })
      return
    }
    if (gesture) {
      if (!gesture.move(x, y)) {
        // A full stroke: store it and go on drawing from here as a new one.
        const kind = gesture.tool
        finish()
        gesture = new Gesture(kind, brush.value, x, y)
      }
      stream()
      schedule('overlay')
    }
    const now = performance.now()
    if (!gesture?.freehand && now - lastCursor >= CURSOR_EVERY_MS) {
      lastCursor = now
      s.moveCursor(round(x), round(y))
    }
  }

  function finish(): void {
    panFrom = null
    const op = gesture?.finish()
    gesture = null
    if (op) session.value?.draw(op)
    schedule('overlay')
  }

  function wheel(e: WheelEvent): void {
    const v = view.value
    if (e.ctrlKey || e.metaKey) setView(zoomAt(v, Math.exp(-e.deltaY * 0.002), e.offsetX, e.offsetY))
    else setView({ ...v, x: v.x + e.deltaX / v.zoom, y: v.y + e.deltaY / v.zoom })
  }

  function commitText(): void {
    const box = textBox.value
    textBox.value = null
    // eslint-disable-next-line no-control-regex
    const text = box?.text.replace(/[\u0000-\u0009\u000b-\u001f]/g, '').trimEnd().slice(0, MAX_TEXT_CHARS)
    if (!box || !text?.trim()) return
    const size = Math.max(12, brush.value.size * 4)
    session.value?.draw({ id: newOpId(), kind: 'text', color: brush.value.color, size, points: [box.x, box.y], text })
  }

  function key(e: KeyboardEvent): void {
    const s = session.value
    const target = e.target as HTMLElement | null
    if (!s || target?.closest('input, textarea, [contenteditable]') || !(e.ctrlKey || e.metaKey)) return
    const k = e.key.toLowerCase()
    if (k === 'z' && !e.shiftKey) s.undo()
    else if ((k === 'z' && e.shiftKey) || k === 'y') s.redo()
    else return
    e.preventDefault()
  }

  /** What this tab is drawing right now (for the overlay). */
  function drawing(): PaintOp | null {
    return gesture?.op ?? null
  }

  return { textBox, textInput, down, move, finish, wheel, commitText, key, drawing }
}
