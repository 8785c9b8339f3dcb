import { createPinia, setActivePinia } from 'pinia'
import { beforeEach, describe, expect, it } from 'vitest'
import { abortError, ApiError } from '@/api/http'
import { SocketError } from '@/api/socket'
import type { Message, Upload } from '@/api/types'
import { ChatCache, type OutboxEntry } from '@/persistence/cache'
import { useOutboxStore } from '@/stores/outbox'
import { message } from '@/testing/factories'
import { MemoryBlobStore } from './blobStore'
import { attachmentIds, defaultFileDeps } from './outboxFiles'
import type { MultipartOptions, UploadMeta } from './uploadClient'
import { useUploadsStore } from './uploads'
import { useComposerFiles } from './useComposerFiles'

let dbCounter = 0

/** The server's side of POST /api/uploads and message.send, in memory. */
class FakeServer {
  online = true
  refuse: ApiError | null = null
  hold = false
  uploads: { name: string; text: Promise<string>; duration: number | null }[] = []
  sends: { body: string; attachments: number[] }[] = []
  private held: (() => void)[] = []
  private nextId = 100

  upload = (blob: Blob, meta: UploadMeta, options: MultipartOptions): Promise<Upload> =>
    new Promise<Upload>((resolve, reject) => {
      options.signal?.addEventListener('abort', () => reject(abortError()))
      const finish = (): void => {
        if (options.signal?.aborted) return
        if (!this.online) return reject(new ApiError(0, 'network', 'The server cannot be reached.'))
        if (this.refuse) return reject(this.refuse)
        options.onProgress?.(blob.size, blob.size)
        this.uploads.push({ name: meta.name, text: blob.text(), duration: meta.durationMs ?? null })
        const id = this.nextId++
        resolve({ id, name: meta.name, size: blob.size, mime: blob.type, url: `/api/uploads/${id}` })
      }
      if (this.hold) {
        options.onProgress?.(Math.floor(blob.size / 2), blob.size)
        this.held.push(finish)
      } else queueMicrotask(finish)
    })

  release(): void {
    this.hold = false
    for (const finish of this.held.splice(0)) finish()
  }

  send = async (entry: OutboxEntry): Promise<Message> => {
    if (!this.online) throw new ApiError(0, 'network', 'offline')
    this.sends.push({ body: entry.body, attachments: attachmentIds(entry) })
    return message(this.sends.length, { body: entry.body, client_id: entry.client_id })
  }
}

async function setup(server: FakeServer, blobs: MemoryBlobStore, name = `files-${dbCounter++}`) {
  setActivePinia(createPinia())
  const cache = await ChatCache.open(name)
  const uploads = useUploadsStore()
  uploads.useUploader(server.upload)
  const outbox = useOutboxStore()
  outbox.configure({
    storage: cache,
    send: (entry) => server.send(entry),
    canSend: () => server.online,
    onSent: () => undefined,
    files: defaultFileDeps(blobs),
  })
  return { cache, uploads, outbox }
}

function file(text: string, name: string, type = 'text/plain'): File {
  return new File([text], name, { type })
}

/** What the composer does on Enter. */
async function compose(body: string, files: File[], durationMs: number | null = null) {
  const composer = useComposerFiles()
  composer.add(files, durationMs)
  return useOutboxStore().add(10, body, null, composer.take())
}

describe('messages with files', () => {
  let server: FakeServer
  let blobs: MemoryBlobStore
  beforeEach(() => {
    server = new FakeServer()
    blobs = new MemoryBlobStore()
  })

  it('sends the message with its files once they are uploaded, and lets go of the bytes', async () => {
    const { outbox, uploads } = await setup(server, blobs)
    await compose('the report', [file('pdf bytes', 'report.pdf', 'application/pdf'), file('x', 'notes.txt')])
    await outbox.drain()
    expect(server.sends).toEqual([{ body: 'the report', attachments: [100, 101] }])
    expect(await Promise.all(server.uploads.map((u) => u.text))).toEqual(['pdf bytes', 'x'])
    expect(outbox.entries).toEqual([])
    expect(blobs.files.size).toBe(0)
    expect(Object.keys(uploads.jobs)).toEqual([])
  })

  it('sends a voice message with no text and its duration', async () => {
    const { outbox } = await setup(server, blobs)
    await compose('', [file('opus', 'Voice message.webm', 'audio/webm')], 3100)
    await outbox.drain()
    expect(server.sends).toEqual([{ body: '', attachments: [100] }])
    expect(server.uploads[0]?.duration).toBe(3100)
  })

  it('keeps files written offline in IndexedDB and sends them exactly once after a reload', async () => {
    server.online = false
    const name = `files-reload-${dbCounter++}`
    const first = await setup(server, blobs, name)
    await compose('from the train', [file('photo', 'photo.jpg', 'image/jpeg')])
    await first.outbox.drain()
    expect(first.outbox.entries[0]?.state).toBe('pending')
    expect(blobs.files.size).toBe(1)
    first.cache.close()

    const second = await setup(server, blobs, name) // a new page, same IndexedDB
    await second.outbox.restore()
    expect(second.outbox.entries[0]?.files?.map((f) => f.name)).toEqual(['photo.jpg'])
    expect(second.uploads.jobs[second.outbox.entries[0]!.files![0]!.key]?.state).toBe('waiting')
    server.online = true
    await second.outbox.drain()
    await second.outbox.drain()
    expect(server.sends).toEqual([{ body: 'from the train', attachments: [100] }])
    expect(await server.uploads[0]?.text).toBe('photo')
    expect(blobs.files.size).toBe(0)
  })

  it('never uploads a finished file again when only the send is retried', async () => {
    const { outbox } = await setup(server, blobs)
    const realSend = server.send
    let fail = true
    server.send = async (entry) => {
      if (fail) {
        fail = false
        await realSend(entry) // stored, but the reply is lost with the connection
        throw new SocketError('disconnected', 'lost')
      }
      return realSend(entry)
    }
    await compose('twice?', [file('abc', 'a.txt')])
    await outbox.drain()
    expect(outbox.entries[0]?.state).toBe('pending')
    await outbox.drain()
    expect(server.uploads.length).toBe(1)
    expect(server.sends).toEqual([
      { body: 'twice?', attachments: [100] },
      { body: 'twice?', attachments: [100] },
    ])
  })

  it('drops a cancelled file; a message left with nothing is not sent at all', async () => {
    const { outbox, uploads } = await setup(server, blobs)
    server.hold = true
    const entry = await compose('', [file('big', 'big.bin', 'application/octet-stream')])
    const key = entry.files![0]!.key
    const draining = outbox.drain()
    expect(uploads.jobs[key]?.loaded).toBeGreaterThan(0)
    await outbox.cancelFile(entry.client_id, key)
    await draining
    server.release()
    expect(server.sends).toEqual([])
    expect(server.uploads).toEqual([])
    expect(outbox.entries).toEqual([])
    expect(blobs.files.size).toBe(0)
  })

  it('sends the text without a file cancelled on the way', async () => {
    const { outbox } = await setup(server, blobs)
    server.hold = true
    const entry = await compose('two files, one cancelled', [file('keep', 'keep.txt'), file('drop', 'drop.txt')])
    const draining = outbox.drain()
    await outbox.cancelFile(entry.client_id, entry.files![1]!.key)
    server.release()
    await draining
    expect(server.sends).toEqual([{ body: 'two files, one cancelled', attachments: [100] }])
  })

  it('shows the server refusal (too large) and sends nothing until retried', async () => {
    const { outbox, uploads } = await setup(server, blobs)
    server.refuse = new ApiError(413, 'too_large', 'Files are limited to 100 MB.')
    const entry = await compose('huge', [file('x', 'huge.iso')])
    await outbox.drain()
    expect(outbox.entries[0]?.state).toBe('failed')
    expect(outbox.entries[0]?.error).toBe('Files are limited to 100 MB.')
    expect(uploads.jobs[entry.files![0]!.key]?.error).toBe('Files are limited to 100 MB.')
    expect(server.sends).toEqual([])
  })

  it('refuses an eleventh file in one message', async () => {
    await setup(server, blobs)
    const composer = useComposerFiles()
    const added = composer.add(Array.from({ length: 12 }, (_, i) => file(String(i), `${i}.txt`)))
    expect(added).toBe(10)
    expect(composer.notice.value).toMatch(/at most 10 files/)
    composer.dispose()
  })
})
