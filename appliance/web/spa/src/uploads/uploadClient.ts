// Multipart requests with upload progress and cancel: fetch() reports no upload progress,
// so files go through XMLHttpRequest. Errors become the same ApiError as src/api/http.ts.
import { ApiError, http } from '@/api/http'
import type { ApiErrorBody, Room, Upload, User } from '@/api/types'

export interface MultipartOptions {
  /** Bytes sent so far and in all (the whole multipart body, near enough the file). */
  onProgress?: (loaded: number, total: number) => void
  signal?: AbortSignal
  /** Plain fields, sent before the file (the server reads the stream in order). */
  fields?: Record<string, string>
}

export type XhrFactory = () => XMLHttpRequest
let makeXhr: XhrFactory = () => new XMLHttpRequest()

/** Tests swap the transport; the app never does. */
export function useXhrFactory(factory: XhrFactory): void {
  makeXhr = factory
}

export function abortError(): DOMException {
  return new DOMException('The upload was cancelled.', 'AbortError')
}

export function isAbort(error: unknown): boolean {
  return error instanceof DOMException && error.name === 'AbortError'
}

function errorFrom(xhr: XMLHttpRequest): ApiError {
  let body: Partial<ApiErrorBody> | null = null
  try {
    body = JSON.parse(xhr.responseText) as Partial<ApiErrorBody>
  } catch {
    body = null
  }
  const status = xhr.status
  const fallback =
    status === 413 ? 'The file is too large.' : status === 507 ? 'The server is out of space.' : `The server answered ${status}.`
  return new ApiError(status, body?.error?.code ?? `http_${status}`, body?.error?.message ?? fallback)
}

export function sendMultipart<T>(
  method: 'POST' | 'PUT',
  path: string,
  file: Blob,
  fileName: string,
  options: MultipartOptions = {},
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (options.signal?.aborted) {
      reject(abortError())
      return
    }
    const form = new FormData()
    for (const [key, value] of Object.entries(options.fields ?? {})) form.append(key, value)
    form.append('file', file, fileName)
    const xhr = makeXhr()
    xhr.open(method, path)
    xhr.withCredentials = true
    xhr.setRequestHeader('Accept', 'application/json')
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable) options.onProgress?.(event.loaded, event.total)
    }
    const onAbort = (): void => xhr.abort()
    options.signal?.addEventListener('abort', onAbort, { once: true })
    const done = (): void => options.signal?.removeEventListener('abort', onAbort)
    xhr.onload = () => {
      done()
      if (xhr.status >= 200 && xhr.status < 300) {
        try {
          resolve(JSON.parse(xhr.responseText) as T)
        } catch {
          reject(new ApiError(xhr.status, 'bad_reply', 'The server sent an unreadable answer.'))
        }
      } else {
        reject(errorFrom(xhr))
      }
    }
    xhr.onerror = () => {
      done()
      reject(new ApiError(0, 'network', 'The server cannot be reached.'))
    }
    xhr.onabort = () => {
      done()
      reject(abortError())
    }
    xhr.send(form)
  })
}

export interface UploadMeta {
  name: string
  durationMs?: number | null
}

/** POST /api/uploads: the file is stored, not yet shown anywhere until a message uses it. */
export async function uploadFile(file: Blob, meta: UploadMeta, options: MultipartOptions = {}): Promise<Upload> {
  const fields: Record<string, string> = {}
  if (meta.durationMs != null) fields.duration_ms = String(Math.round(meta.durationMs))
  const reply = await sendMultipart<{ upload: Upload }>('POST', '/api/uploads', file, meta.name, {
    ...options,
    fields,
  })
  return reply.upload
}

/** Pictures are cropped square in the browser; the server makes the thumbnails. */
export const avatarsApi = {
  setMine: (picture: Blob) => sendMultipart<{ user: User }>('PUT', '/api/me/avatar', picture, 'avatar.png'),
  clearMine: () => http.delete<{ user: User }>('/api/me/avatar'),
  setRoom: (room: number, picture: Blob) =>
    sendMultipart<{ room: Room }>('PUT', `/api/rooms/${room}/avatar`, picture, 'avatar.png'),
  clearRoom: (room: number) => http.delete<{ room: Room }>(`/api/rooms/${room}/avatar`),
}
