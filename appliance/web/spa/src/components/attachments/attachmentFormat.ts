// How an attachment is shown: which player or card, its size and type in words, and the box
// an image preview takes before it loads (so the message list never jumps).

export type AttachmentKind = 'image' | 'audio' | 'video' | 'file'

/** Formats every browser draws; anything else (TIFF, HEIC, PSD...) gets a file card. */
const INLINE_IMAGES = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp', 'image/avif', 'image/bmp'])

export function kindOf(mime: string): AttachmentKind {
  const type = mime.toLowerCase().split(';')[0]?.trim() ?? ''
  if (INLINE_IMAGES.has(type)) return 'image'
  if (type.startsWith('audio/')) return 'audio'
  if (type.startsWith('video/')) return 'video'
  return 'file'
}

export function fileSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`
  const units = ['KB', 'MB', 'GB', 'TB']
  let value = bytes / 1024
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`
}

const NAMED_TYPES: Record<string, string> = {
  'application/pdf': 'PDF',
  'application/zip': 'ZIP archive',
  'text/plain': 'Text',
  'text/csv': 'CSV',
  'application/json': 'JSON',
}

/** "PDF", "ZIP archive", else the file's extension in capitals, else a generic word. */
export function typeLabel(name: string, mime: string): string {
  const named = NAMED_TYPES[mime.toLowerCase()]
  if (named) return named
  const dot = name.lastIndexOf('.')
  const ext = dot > 0 ? name.slice(dot + 1) : ''
  if (ext && ext.length <= 5 && /^[a-z0-9]+$/i.test(ext)) return ext.toUpperCase()
  const kind = kindOf(mime)
  return kind === 'file' ? 'File' : kind[0]?.toUpperCase() + kind.slice(1)
}

export type FileIcon = 'pdf' | 'archive' | 'text' | 'image' | 'audio' | 'video' | 'file'

export function iconFor(name: string, mime: string): FileIcon {
  const type = mime.toLowerCase()
  if (type === 'application/pdf' || /\.pdf$/i.test(name)) return 'pdf'
  if (/zip|tar|gzip|x-7z|rar|bzip|xz/.test(type) || /\.(zip|tar|gz|tgz|7z|rar|bz2|xz)$/i.test(name)) return 'archive'
  if (type.startsWith('text/') || type === 'application/json') return 'text'
  if (type.startsWith('image/')) return 'image'
  if (type.startsWith('audio/')) return 'audio'
  if (type.startsWith('video/')) return 'video'
  return 'file'
}

/** 0:07, 1:05, 1:02:03 */
/** A running timer (recording): whole seconds elapsed, like a stopwatch, never rounded up. */
export function timerLabel(ms: number): string {
  return durationLabel(Math.floor(Math.max(0, ms) / 1000) * 1000)
}

export function durationLabel(ms: number): string {
  const total = Math.max(0, Math.round(ms / 1000))
  const h = Math.floor(total / 3600)
  const m = Math.floor((total % 3600) / 60)
  const s = String(total % 60).padStart(2, '0')
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`
}

/** The displayed size of an image of `width`×`height` inside a `maxW`×`maxH` box, never
 * enlarged; a square placeholder when the size is unknown. */
export function fitBox(
  width: number | null | undefined,
  height: number | null | undefined,
  maxW: number,
  maxH: number,
): { width: number; height: number } {
  if (!width || !height || width <= 0 || height <= 0) {
    const side = Math.min(maxW, maxH)
    return { width: side, height: side }
  }
  const scale = Math.min(1, maxW / width, maxH / height)
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) }
}
