// The square cropper's geometry: the image is drawn at (x, y) with `scale` (canvas pixels per
// image pixel) inside a `side`×`side` frame, and must always cover the frame.

export interface View {
  x: number
  y: number
  scale: number
}

/** The smallest scale at which the image covers the frame. */
export function coverScale(width: number, height: number, side: number): number {
  return side / Math.min(width, height)
}

/** Keeps the image covering the frame: no empty edge shows however it was dragged. */
export function clampView(view: View, width: number, height: number, side: number): View {
  const scale = Math.max(view.scale, coverScale(width, height, side))
  const w = width * scale
  const h = height * scale
  return {
    scale,
    x: Math.min(0, Math.max(side - w, view.x)),
    y: Math.min(0, Math.max(side - h, view.y)),
  }
}

/** The image centred and covering the frame. */
export function initialView(width: number, height: number, side: number): View {
  const scale = coverScale(width, height, side)
  return { scale, x: (side - width * scale) / 2, y: (side - height * scale) / 2 }
}

/** Zoom to `zoom`× the cover scale, keeping the frame's point (px, py) where it is. */
export function zoomAt(view: View, zoom: number, px: number, py: number, width: number, height: number, side: number): View {
  const scale = coverScale(width, height, side) * Math.min(8, Math.max(1, zoom))
  const ix = (px - view.x) / view.scale
  const iy = (py - view.y) / view.scale
  return clampView({ scale, x: px - ix * scale, y: py - iy * scale }, width, height, side)
}

/** The part of the image inside the frame, in image pixels: what the cropped file shows. */
export function sourceRect(view: View, side: number): { sx: number; sy: number; size: number } {
  return { sx: -view.x / view.scale + 0, sy: -view.y / view.scale + 0, size: side / view.scale } // + 0: never -0
}
