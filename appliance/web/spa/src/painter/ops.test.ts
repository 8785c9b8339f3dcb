import { describe, expect, it } from 'vitest'
import { round, visible, type PaintOp } from './ops'
import { Gesture } from './tools'

const stroke = (id: string): PaintOp => ({ id, kind: 'stroke', color: '#000000', size: 2, points: [0, 0] })

describe('visible', () => {
  it('hides undone ops, shows redone ones, and starts after the last clear', () => {
    const [a, b, c] = [stroke('a'), stroke('b'), stroke('c')]
    const wipe: PaintOp = { id: 'w', kind: 'clear' }
    expect(visible([a, b, { id: 'u', kind: 'undo', target: 'b' }])).toEqual([a])
    expect(visible([a, b, { id: 'u', kind: 'undo', target: 'b' }, { id: 'r', kind: 'redo', target: 'b' }])).toEqual([a, b])
    expect(visible([a, wipe, c])).toEqual([c])
    expect(visible([a, wipe, c, { id: 'u', kind: 'undo', target: 'w' }])).toEqual([a, c])
  })
})

describe('Gesture', () => {
  it('grows a stroke with rounded points and hands out the unsent ones once', () => {
    const g = new Gesture('pen', { color: '#d03030', size: 4, fill: false }, 1.04, 2.06)
    g.move(3.33, 4.44)
    g.move(3.33, 4.44) // the same point again adds nothing
    expect(g.op.points).toEqual([1, 2.1, 3.3, 4.4])
    expect(g.takeUnsent()).toEqual([1, 2.1, 3.3, 4.4])
    expect(g.takeUnsent()).toEqual([])
    expect(g.finish()).toMatchObject({ kind: 'stroke', color: '#d03030', size: 4 })
  })

  it('makes shapes from corner to corner and drops a shape of no size', () => {
    const rect = new Gesture('rect', { color: '#2f62e0', size: 2, fill: true }, 10, 10)
    rect.move(40, 30)
    expect(rect.finish()).toMatchObject({ kind: 'rect', points: [10, 10, 40, 30], fill: true })
    expect(new Gesture('line', { color: '#000000', size: 2, fill: true }, 5, 5).finish()).toBeNull()
  })

  it('erases with a wider, marked stroke', () => {
    const g = new Gesture('eraser', { color: '#d03030', size: 4, fill: false }, 0, 0)
    expect(g.op).toMatchObject({ kind: 'stroke', erase: true, size: 16 })
    expect(round(0.05)).toBe(0.1)
  })
})
