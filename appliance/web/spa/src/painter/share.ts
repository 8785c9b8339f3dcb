// The board leaves the board view: as a picture message in its room (one click), or as a
// video track in a running call (canvas.captureStream()).
import type { Message, Upload } from '@/api/types'
import type { FeatureChannel } from '@/sync/featureChannel'
import { newOpId } from './ops'

export function canvasPng(canvas: HTMLCanvasElement): Promise<Blob> {
  return new Promise((resolve, reject) =>
    canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error('The board could not be saved.'))), 'image/png'),
  )
}

/** POST /api/uploads (multipart `file`), as docs/api/uploads.md describes. */
async function upload(file: Blob, name: string): Promise<Upload> {
  const form = new FormData()
  form.append('file', file, name)
  const response = await fetch('/api/uploads', { method: 'POST', body: form, credentials: 'same-origin' })
  const payload = (await response.json().catch(() => null)) as { upload?: Upload; error?: { message?: string } } | null
  if (!response.ok || !payload?.upload) {
    throw new Error(payload?.error?.message ?? `The picture could not be uploaded (${response.status}).`)
  }
  return payload.upload
}

/** The board as shown, sent to the room as a message with the picture attached. */
export async function sendToRoom(channel: FeatureChannel, room: number, canvas: HTMLCanvasElement): Promise<Message> {
  const stamp = new Date().toISOString().slice(0, 16).replace('T', ' ').replace(':', '-')
  const picture = await upload(await canvasPng(canvas), `board ${stamp}.png`)
  const reply = await channel.request<{ message: Message }>({
    type: 'message.send',
    room,
    body: '',
    client_id: `board-${newOpId()}`,
    attachments: [picture.id],
  })
  return reply.message
}
