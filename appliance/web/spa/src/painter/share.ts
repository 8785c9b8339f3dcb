// The board leaves the board view: as a picture message in its room (one click), or as a
// video track in a running call (canvas.captureStream()).
import type { Message } from '@/api/types'
import type { FeatureChannel } from '@/sync/featureChannel'
import { uploadFile } from '@/uploads/uploadClient'
import { newOpId } from './ops'

export function canvasPng(canvas: HTMLCanvasElement): Promise<Blob> {
  return new Promise((resolve, reject) =>
    canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error('The board could not be saved.'))), 'image/png'),
  )
}

/** The board as shown, sent to the room as a message with the picture attached. */
export async function sendToRoom(channel: FeatureChannel, room: number, canvas: HTMLCanvasElement): Promise<Message> {
  const stamp = new Date().toISOString().slice(0, 16).replace('T', ' ').replace(':', '-')
  const picture = await uploadFile(await canvasPng(canvas), { name: `board ${stamp}.png` })
  const reply = await channel.request<{ message: Message }>({
    type: 'message.send',
    room,
    body: '',
    client_id: `board-${newOpId()}`,
    attachments: [picture.id],
  })
  return reply.message
}
