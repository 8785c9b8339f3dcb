import { describe, expect, it } from 'vitest'
import { clampView, initialView, sourceRect, zoomAt } from './cropMath'

describe('square crop', () => {
  it('starts centred, covering the frame with the short side', () => {
    const view = initialView(400, 200, 100)
    expect(view).toEqual({ scale: 0.5, x: -50, y: 0 })
    expect(sourceRect(view, 100)).toEqual({ sx: 100, sy: 0, size: 200 })
  })

  it('never lets an empty edge into the frame', () => {
    expect(clampView({ scale: 0.5, x: 30, y: 20 }, 400, 200, 100)).toEqual({ scale: 0.5, x: 0, y: 0 })
    expect(clampView({ scale: 0.5, x: -500, y: -5 }, 400, 200, 100)).toEqual({ scale: 0.5, x: -100, y: 0 })
    expect(clampView({ scale: 0.1, x: 0, y: 0 }, 400, 200, 100).scale).toBe(0.5)
  })

  it('zooms around the pointer', () => {
    const view = initialView(200, 200, 100) // scale 0.5, at 0,0
    const zoomed = zoomAt(view, 2, 100, 100, 200, 200, 100) // the bottom-right corner stays
    expect(zoomed).toEqual({ scale: 1, x: -100, y: -100 })
    expect(sourceRect(zoomed, 100)).toEqual({ sx: 100, sy: 100, size: 100 })
  })
})
