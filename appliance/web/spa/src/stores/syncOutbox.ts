// How the outbox reaches the server: message.send over the chat socket, entries kept in
// the browser's cache, each confirmed message put in its timeline.
import { SocketError, type ChatSocket } from '@/api/socket'
import type { Message } from '@/api/types'
import type { OutboxStorage } from '@/persistence/cache'
import { attachmentIds } from '@/uploads/outboxFiles'
import type { OutboxDeps } from './outbox'

export function outboxTransport(options: {
  storage: OutboxStorage
  socket: () => ChatSocket | null
  onSent: (message: Message) => void
}): OutboxDeps {
  const { socket } = options
  return {
    storage: options.storage,
    send: (entry) => {
      const open = socket()
      if (!open) return Promise.reject(new Error('not started'))
      return open
        .request<{ message: Message }>({
          type: 'message.send',
          room: entry.room,
          body: entry.body,
          client_id: entry.client_id,
          ...(entry.thread !== null ? { thread: entry.thread } : {}),
          ...(entry.files?.length ? { attachments: attachmentIds(entry) } : {}),
        })
        .then((reply) => reply.message)
        .catch((error: unknown) => {
          // No answer in time: the connection is dead even if the browser has not noticed.
          if (error instanceof SocketError && error.code === 'timeout') socket()?.restart()
          throw error
        })
    },
    canSend: () => socket()?.isOpen === true,
    onSent: options.onSent,
  }
}
