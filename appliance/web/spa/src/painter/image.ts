// A pasted or chosen picture, made small enough for the board (a data URL under the limit).
import { MAX_IMAGE_CHARS } from './ops'

const MAX_SIDE = 1024

export interface BoardImage {
  src: string
  width: number
  height: number
}

/** Scaled down and re-encoded (JPEG on white, then smaller) until it fits `maxChars`. */
export async function imageForBoard(file: Blob, maxChars = MAX_IMAGE_CHARS): Promise<BoardImage> {
  const bitmap = await createImageBitmap(file)
  try {
    let scale = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height))
    for (let attempt = 0; attempt < 12; attempt++) {
      const width = Math.max(1, Math.round(bitmap.width * scale))
      const height = Math.max(1, Math.round(bitmap.height * scale))
      const canvas = document.createElement('canvas')
      canvas.width = width
      canvas.height = height
      const ctx = canvas.getContext('2d')
      if (!ctx) break
      ctx.fillStyle = '#ffffff'
      ctx.fillRect(0, 0, width, height)
      ctx.drawImage(bitmap, 0, 0, width, height)
      for (const quality of [0.85, 0.7, 0.55]) {
        const src = canvas.toDataURL('image/jpeg', quality)
        if (src.length <= maxChars) return { src, width, height }
      }
      scale *= 0.7
    }
  } finally {
    bitmap.close()
  }
  throw new Error('This picture cannot be made small enough for the board.')
}
