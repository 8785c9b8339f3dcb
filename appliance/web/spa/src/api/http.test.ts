import { afterEach, describe, expect, it, vi } from 'vitest'
import { FakeXhr } from '@/testing/fakeXhr'
import { ApiError, http, onUnauthorized, useXhrFactory } from './http'

function answer(status: number, body?: unknown): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json' },
  })
}

function current(): FakeXhr {
  if (!FakeXhr.last) throw new Error('no request')
  return FakeXhr.last
}

const ended = { code: 'unauthorized', message: 'Your session has ended. Sign in again.' }

useXhrFactory(() => new FakeXhr() as unknown as XMLHttpRequest)
afterEach(() => {
  vi.unstubAllGlobals()
  FakeXhr.last = null
})

describe('http.put', () => {
  it('sends JSON with the session and returns the answer', async () => {
    const fetch = vi.fn(async () => answer(200, { applied: true }))
    vi.stubGlobal('fetch', fetch)
    expect(await http.put<{ applied: boolean }>('/api/admin/device/wifi', { ssid: 'Office' })).toEqual({ applied: true })
    const [path, init] = fetch.mock.calls[0] as unknown as [string, RequestInit]
    expect([path, init.method, init.credentials]).toEqual(['/api/admin/device/wifi', 'PUT', 'same-origin'])
    expect(init.headers).toHaveProperty('Content-Type', 'application/json')
    expect(JSON.parse(init.body as string)).toEqual({ ssid: 'Office' })
  })

  it('sends the person to sign in again when the session has ended', async () => {
    const signIn = vi.fn()
    const stop = onUnauthorized(signIn)
    vi.stubGlobal('fetch', vi.fn(async () => answer(401, { error: ended })))
    const error = await http.put('/api/admin/device/wifi', {}).catch((e: unknown) => e)
    stop()
    expect(error).toBeInstanceOf(ApiError)
    expect([(error as ApiError).status, (error as ApiError).message]).toEqual([401, ended.message])
    expect(signIn).toHaveBeenCalledTimes(1)
  })

  it('leaves a wrong password on the sign-in form alone', async () => {
    const signIn = vi.fn()
    const stop = onUnauthorized(signIn)
    vi.stubGlobal('fetch', vi.fn(async () => answer(401, { error: ended })))
    await http.post('/api/auth/login', {}).catch(() => undefined)
    stop()
    expect(signIn).not.toHaveBeenCalled()
  })
})

describe('http.upload', () => {
  it('sends the form with the session, reports progress and returns the answer', async () => {
    const seen: number[] = []
    const form = new FormData()
    form.append('backup', new Blob(['archive']), 'backup.tar.gz')
    const done = http.upload<{ staged: boolean }>('PUT', '/api/thing', form, {
      query: { dry_run: 1, skip: null },
      onProgress: (loaded) => seen.push(loaded),
    })
    const xhr = current()
    expect([xhr.method, xhr.url, xhr.withCredentials, xhr.body]).toEqual(['PUT', '/api/thing?dry_run=1', true, form])
    xhr.upload.onprogress?.({ lengthComputable: true, loaded: 3, total: 7 })
    xhr.answer(200, { staged: true })
    expect(await done).toEqual({ staged: true })
    expect(seen).toEqual([3])
  })

  it('sends the person to sign in again when the session ended during an upload', async () => {
    const signIn = vi.fn()
    const stop = onUnauthorized(signIn)
    const done = http.upload('POST', '/api/admin/restore', new FormData())
    current().answer(401, { error: ended })
    const error = await done.catch((e: unknown) => e)
    stop()
    expect((error as ApiError).code).toBe('unauthorized')
    expect(signIn).toHaveBeenCalledTimes(1)
  })

  it('accepts an empty answer and explains an oversized file', async () => {
    const empty = http.upload('PUT', '/api/me/avatar', new FormData())
    current().answer(204, undefined)
    expect(await empty).toBeUndefined()

    const big = http.upload('POST', '/api/uploads', new FormData())
    current().status = 413
    current().onload?.()
    expect(((await big.catch((e: unknown) => e)) as ApiError).message).toBe('The file is too large.')
  })
})
