import { defineStore } from 'pinia'
import { reactive } from 'vue'
import { ApiError, isAbort } from '@/api/http'
import type { Upload } from '@/api/types'
import { uploadFile, type MultipartOptions, type UploadMeta } from './uploadClient'

/** uploading → done; or waiting (no network: tried again later), failed (the server said
 * no, e.g. too large), cancelled (by the person). */
export type JobState = 'uploading' | 'done' | 'waiting' | 'failed' | 'cancelled'

export interface UploadJob {
  key: string
  name: string
  size: number
  mime: string
  durationMs: number | null
  loaded: number
  state: JobState
  error: string | null
  upload: Upload | null
  /** A blob: URL for images, audio and video, for the card before anything is sent. */
  previewUrl: string | null
}

export type Uploader = (blob: Blob, meta: UploadMeta, options: MultipartOptions) => Promise<Upload>

/** Per message (docs/api/uploads.md). */
export const MAX_ATTACHMENTS = 10

export function newFileKey(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID()
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('')
}

function previewable(mime: string): boolean {
  return /^(image|audio|video)\//.test(mime)
}

/**
 * Every file being uploaded in this tab: its progress for the cards, its cancel, and one
 * request per file however many parts of the app wait for it (the composer starts it, the
 * outbox waits for it when the message goes out).
 */
export const useUploadsStore = defineStore('uploads', () => {
  const jobs = reactive<Record<string, UploadJob>>({})
  const blobs = new Map<string, Blob>()
  const running = new Map<string, Promise<Upload>>()
  const controllers = new Map<string, AbortController>()
  let uploader: Uploader = uploadFile

  function useUploader(next: Uploader): void {
    uploader = next
  }

  /** A new file from the composer (picked, dropped, pasted or recorded): starts at once. */
  function add(blob: Blob, name: string, durationMs: number | null = null): UploadJob {
    const key = newFileKey()
    const mime = blob.type || 'application/octet-stream'
    jobs[key] = {
      key,
      name: name || 'file',
      size: blob.size,
      mime,
      durationMs,
      loaded: 0,
      state: 'uploading',
      error: null,
      upload: null,
      previewUrl: previewable(mime) ? URL.createObjectURL(blob) : null,
    }
    blobs.set(key, blob)
    void start(key).catch(() => undefined)
    return jobs[key] as UploadJob
  }

  /** The job for a file of an outbox entry restored after a reload (no job in this tab yet). */
  function adopt(key: string, meta: { name: string; size: number; mime: string; durationMs: number | null }): void {
    if (jobs[key]) return
    jobs[key] = { key, ...meta, loaded: 0, state: 'waiting', error: null, upload: null, previewUrl: null }
  }

  /** The upload of `key`: the one in flight, the finished one, or a new try with `blob`. */
  function start(key: string, blob?: Blob): Promise<Upload> {
    const job = jobs[key]
    if (!job) return Promise.reject(new Error('unknown upload'))
    if (job.state === 'cancelled') return Promise.reject(new DOMException('cancelled', 'AbortError'))
    if (job.upload) return Promise.resolve(job.upload)
    const inFlight = running.get(key)
    if (inFlight) return inFlight
    const body = blob ?? blobs.get(key)
    if (!body) return Promise.reject(new Error('The file is no longer available.'))
    if (blob) blobs.set(key, blob)
    const controller = new AbortController()
    controllers.set(key, controller)
    job.state = 'uploading'
    job.error = null
    job.loaded = 0
    const attempt = uploader(
      body,
      { name: job.name, durationMs: job.durationMs },
      {
        signal: controller.signal,
        onProgress: (loaded, total) => {
          const current = jobs[key]
          if (current) current.loaded = Math.min(current.size, Math.round((loaded / Math.max(total, 1)) * current.size))
        },
      },
    )
      .then((upload) => {
        const current = jobs[key]
        if (current) {
          current.upload = upload
          current.state = 'done'
          current.loaded = current.size
        }
        blobs.delete(key) // the server has it; the preview URL still shows it here
        return upload
      })
      .catch((error: unknown) => {
        const current = jobs[key]
        if (current && current.state !== 'cancelled') {
          if (isAbort(error)) current.state = 'cancelled'
          else if (error instanceof ApiError && error.isNetwork) current.state = 'waiting'
          else {
            current.state = 'failed'
            current.error = error instanceof Error ? error.message : 'The upload failed.'
          }
        }
        throw error
      })
      .finally(() => {
        running.delete(key)
        controllers.delete(key)
      })
    running.set(key, attempt)
    return attempt
  }

  function cancel(key: string): void {
    const job = jobs[key]
    if (job && job.state !== 'done') job.state = 'cancelled'
    controllers.get(key)?.abort()
  }

  /** The file is sent or dropped: let go of its bytes and its preview. */
  function forget(key: string): void {
    const job = jobs[key]
    if (job?.previewUrl) URL.revokeObjectURL(job.previewUrl)
    controllers.get(key)?.abort()
    blobs.delete(key)
    delete jobs[key]
  }

  function blobOf(key: string): Blob | undefined {
    return blobs.get(key)
  }

  return { jobs, useUploader, add, adopt, start, cancel, forget, blobOf }
})
