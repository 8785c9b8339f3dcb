// The file half of the outbox: a queued message's attachments are uploaded (or joined, when
// the composer's upload is still running) before message.send, so the message appears
// with its files or not at all.
import { ApiError } from '@/api/http'
import type { Upload } from '@/api/types'
import type { OutboxEntry, OutboxFile } from '@/persistence/cache'
import { IdbBlobStore, MemoryBlobStore, type BlobStore } from './blobStore'
import { isAbort } from '@/api/http'
import { useUploadsStore } from './uploads'

export interface FileDeps {
  blobs: BlobStore
  /** The server's record of the file, uploading it if need be. */
  upload: (file: OutboxFile) => Promise<Upload>
  /** The file is no longer needed in this tab (sent or dropped). */
  release: (key: string) => void
  /** Shows a file of an entry restored from IndexedDB in this tab's progress cards. */
  adopt: (file: OutboxFile) => void
}

function defaultBlobStore(): BlobStore {
  return typeof indexedDB === 'undefined' ? new MemoryBlobStore() : new IdbBlobStore()
}

/** Uploads through the tab's uploads store; bytes from memory or, after a reload, IndexedDB. */
export function defaultFileDeps(blobs: BlobStore = defaultBlobStore()): FileDeps {
  return {
    blobs,
    adopt: (file) =>
      useUploadsStore().adopt(file.key, {
        name: file.name,
        size: file.size,
        mime: file.mime,
        durationMs: file.duration_ms,
      }),
    upload: async (file) => {
      const uploads = useUploadsStore()
      const job = uploads.jobs[file.key]
      if (!job)
        uploads.adopt(file.key, { name: file.name, size: file.size, mime: file.mime, durationMs: file.duration_ms })
      const busy = job?.state === 'uploading' || job?.state === 'done'
      const bytes = busy || uploads.blobOf(file.key) ? undefined : await blobs.get(file.key)
      return uploads.start(file.key, bytes)
    },
    release: (key) => useUploadsStore().forget(key),
  }
}

export type Prepared = 'ready' | 'later' | 'empty'

/**
 * Uploads every file of the (live) entry that the server does not have yet, saving the entry
 * after each, so a reload never uploads a finished file again. A cancelled file leaves the
 * message; 'empty' means nothing is left to send. A lost network means 'later'; a refusal
 * (too large, quota, disk full) is thrown with the server's message.
 */
export async function uploadEntryFiles(
  entry: OutboxEntry,
  deps: FileDeps,
  save: () => Promise<void>,
): Promise<Prepared> {
  for (;;) {
    const file = entry.files?.find((f) => f.upload === null)
    if (!file) break
    try {
      const upload = await deps.upload(file)
      file.upload = upload
      await save()
    } catch (error) {
      if (isAbort(error)) {
        removeFile(entry, file.key)
        deps.release(file.key)
        await deps.blobs.delete([file.key]).catch(() => undefined)
        await save()
        continue
      }
      if (error instanceof ApiError && error.isNetwork) return 'later'
      throw error
    }
  }
  return entry.body.trim() === '' && !entry.files?.length ? 'empty' : 'ready'
}

export function removeFile(entry: OutboxEntry, key: string): void {
  const at = entry.files?.findIndex((f) => f.key === key) ?? -1
  if (at >= 0) entry.files?.splice(at, 1)
}

/** The upload ids message.send carries. */
export function attachmentIds(entry: OutboxEntry): number[] {
  return (entry.files ?? []).flatMap((f) => (f.upload ? [f.upload.id] : []))
}
