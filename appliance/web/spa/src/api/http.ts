// The one place that speaks HTTP: JSON in and out, errors turned into ApiError.
import type { ApiErrorBody } from './types'

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message)
    this.name = 'ApiError'
  }

  /** The request never got an answer (offline, server down). */
  get isNetwork(): boolean {
    return this.status === 0
  }
}

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'
type Query = Record<string, string | number | null | undefined>

function withQuery(path: string, query?: Query): string {
  if (!query) return path
  const params = new URLSearchParams()
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') params.set(key, String(value))
  }
  const text = params.toString()
  return text ? `${path}?${text}` : path
}

/** Listeners told when any request answers 401 (the session ended elsewhere). */
const unauthorizedListeners = new Set<() => void>()
export function onUnauthorized(listener: () => void): () => void {
  unauthorizedListeners.add(listener)
  return () => unauthorizedListeners.delete(listener)
}

function parseBody(text: string): unknown {
  try {
    return text ? JSON.parse(text) : null
  } catch {
    return null
  }
}

function unreachable(): ApiError {
  return new ApiError(0, 'network', 'The server cannot be reached.')
}

/** The error for a non-2xx answer; a 401 outside sign-in also tells the listeners. */
function failure(status: number, payload: unknown, path: string, tell = true): ApiError {
  const body = payload as Partial<ApiErrorBody> | null
  const fallback =
    status === 413
      ? 'The file is too large.'
      : status === 507
        ? 'The server is out of space.'
        : `The server answered ${status}.`
  if (tell && status === 401 && !path.startsWith('/api/auth/')) {
    for (const listener of unauthorizedListeners) listener()
  }
  return new ApiError(status, body?.error?.code ?? `http_${status}`, body?.error?.message ?? fallback)
}

/** GETs started at boot, before the app's code ran: each is taken once, by takePrefetched. */
const prefetched = new Map<string, Promise<Response>>()

/** Starts a GET now (at boot, in parallel with the others); errors wait for the taker. */
export function prefetch(path: string, query?: Query): void {
  const url = withQuery(path, query)
  const started = fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
  started.catch(() => undefined) // a rejection nobody takes is not an unhandled one
  prefetched.set(url, started)
}

/** A prefetched GET's answer, as request() would give it; null when none was started (or it
 * was taken already): the caller asks the server itself. `quiet`: a 401 only fails this
 * (the answer was a mere head start), the session is not ended for it. */
export function takePrefetched<T>(path: string, query?: Query, { quiet = false } = {}): Promise<T> | null {
  const url = withQuery(path, query)
  const started = prefetched.get(url)
  if (!started) return null
  prefetched.delete(url)
  return answer<T>(started, path, !quiet)
}

/** Forgets what boot asked that nobody took (signed out: those answers are refusals). */
export function dropPrefetched(): void {
  prefetched.clear()
}

async function answer<T>(sent: Promise<Response>, path: string, tell = true): Promise<T> {
  let response: Response
  try {
    response = await sent
  } catch (error) {
    if (isAbort(error)) throw error
    throw unreachable()
  }
  if (response.status === 204) return undefined as T
  const payload = parseBody(await response.text())
  if (!response.ok) throw failure(response.status, payload, path, tell)
  return payload as T
}

export async function request<T>(
  method: Method,
  path: string,
  options: { body?: unknown; query?: Query; signal?: AbortSignal } = {},
): Promise<T> {
  const init: RequestInit = {
    method,
    credentials: 'same-origin',
    headers: { Accept: 'application/json' },
  }
  if (options.signal) init.signal = options.signal
  if (options.body !== undefined) {
    init.headers = { ...init.headers, 'Content-Type': 'application/json' }
    init.body = JSON.stringify(options.body)
  }
  return answer<T>(fetch(withQuery(path, options.query), init), path)
}

// Uploads: fetch() reports no upload progress, so multipart bodies go through
// XMLHttpRequest, with the same errors and the same 401 handling as request().

export interface UploadOptions {
  /** Bytes sent so far and in all (the whole multipart body, near enough the file). */
  onProgress?: (loaded: number, total: number) => void
  signal?: AbortSignal
  query?: Query
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

/** Sends a multipart form (the browser sets its Content-Type with the boundary). */
export function upload<T>(
  method: 'POST' | 'PUT',
  path: string,
  form: FormData,
  options: UploadOptions = {},
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (options.signal?.aborted) {
      reject(abortError())
      return
    }
    const xhr = makeXhr()
    xhr.open(method, withQuery(path, options.query))
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
      const text = xhr.responseText
      if (xhr.status < 200 || xhr.status >= 300) {
        reject(failure(xhr.status, parseBody(text), path))
      } else if (xhr.status === 204 || !text) {
        resolve(undefined as T)
      } else {
        const payload = parseBody(text)
        if (payload === null) reject(new ApiError(xhr.status, 'bad_reply', 'The server sent an unreadable answer.'))
        else resolve(payload as T)
      }
    }
    xhr.onerror = () => {
      done()
      reject(unreachable())
    }
    xhr.onabort = () => {
      done()
      reject(abortError())
    }
    xhr.send(form)
  })
}

export const http = {
  get: <T>(path: string, query?: Query, signal?: AbortSignal) =>
    request<T>('GET', path, signal ? { query, signal } : { query }),
  post: <T>(path: string, body: unknown = {}) => request<T>('POST', path, { body }),
  put: <T>(path: string, body: unknown) => request<T>('PUT', path, { body }),
  patch: <T>(path: string, body: unknown) => request<T>('PATCH', path, { body }),
  delete: <T = void>(path: string) => request<T>('DELETE', path),
  upload,
}
