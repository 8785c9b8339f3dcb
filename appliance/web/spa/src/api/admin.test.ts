import { afterEach, describe, expect, it, vi } from 'vitest'
import { adminApi } from './admin'
import { FakeXhr } from '@/testing/fakeXhr'
import { ApiError, useXhrFactory } from './http'

function answer(status: number, body: unknown): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json' },
  })
}

afterEach(() => {
  vi.unstubAllGlobals()
  FakeXhr.last = null
})

describe('adminApi uploads', () => {
  useXhrFactory(() => new FakeXhr() as unknown as XMLHttpRequest)

  function current(): FakeXhr {
    if (!FakeXhr.last) throw new Error('no request')
    return FakeXhr.last
  }

  it('sends a dry run as multipart with the backup field, and no JSON content type', async () => {
    const done = adminApi.restore(new Blob(['archive']), true)
    const xhr = current()
    expect([xhr.method, xhr.url]).toEqual(['POST', '/api/admin/restore?dry_run=1'])
    expect(xhr.headers).not.toHaveProperty('Content-Type')
    expect(xhr.body?.get('backup')).toBeInstanceOf(Blob)
    xhr.answer(200, { staged: false, warnings: [] })
    expect((await done).staged).toBe(false)
  })

  it('stages without dry_run', async () => {
    const done = adminApi.restore(new Blob(['archive']), false)
    expect(current().url).toBe('/api/admin/restore')
    current().answer(202, { staged: true, warnings: [] })
    expect((await done).staged).toBe(true)
  })

  it('turns the error envelope into an ApiError with the server message', async () => {
    const message = 'This backup cannot be restored: it holds an unsafe path.'
    const done = adminApi.restore(new Blob(['x']), true)
    current().answer(400, { error: { code: 'bad_request', message } })
    const error = await done.catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ApiError)
    expect((error as ApiError).status).toBe(400)
    expect((error as ApiError).message).toBe(message)
  })

  it('reports a network failure as status 0', async () => {
    const done = adminApi.installCertificate(new Blob(['c']), new Blob(['k']), '')
    current().onerror?.()
    const error = await done.catch((e: unknown) => e)
    expect((error as ApiError).isNetwork).toBe(true)
  })

  it('sends the certificate, key and extra names', async () => {
    const done = adminApi.installCertificate(new Blob(['c']), new Blob(['k']), ' chat.example.com ')
    const form = current().body as FormData
    expect(form.get('names')).toBe('chat.example.com')
    expect(form.get('certificate')).toBeInstanceOf(Blob)
    expect(form.get('key')).toBeInstanceOf(Blob)
    current().answer(200, { certificate: { kind: 'custom' } })
    expect((await done).certificate.kind).toBe('custom')
  })
})

describe('adminApi device operations', () => {
  it('puts the Wi-Fi settings as JSON and reports the field the server refused', async () => {
    const fetch = vi.fn(async () => answer(200, { country: 'DE', ssid: 'Office', applied: true }))
    vi.stubGlobal('fetch', fetch)
    const done = await adminApi.setWifi({ country: 'DE', ssid: 'Office', passphrase: 'correct horse' })
    expect(done.applied).toBe(true)
    const [path, init] = fetch.mock.calls[0] as unknown as [string, RequestInit]
    expect(path).toBe('/api/admin/device/wifi')
    expect(init.method).toBe('PUT')
    expect(init.headers).toHaveProperty('Content-Type', 'application/json')
    expect(JSON.parse(init.body as string)).toEqual({ country: 'DE', ssid: 'Office', passphrase: 'correct horse' })

    const message = 'passphrase: must be 8 to 63 characters (or 64 hex digits)'
    vi.stubGlobal('fetch', vi.fn(async () => answer(400, { error: { code: 'invalid_argument', message } })))
    const error = await adminApi.setWifi({ country: 'DE', ssid: 'Office', passphrase: 'short' }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ApiError)
    expect((error as ApiError).message).toBe(message)
  })

  it('asks for a restart or a shutdown and explains a missing helper', async () => {
    const fetch = vi.fn(async () => answer(202, { action: 'reboot', accepted: true }))
    vi.stubGlobal('fetch', fetch)
    expect((await adminApi.power('reboot')).accepted).toBe(true)
    expect((fetch.mock.calls[0] as unknown as [string])[0]).toBe('/api/admin/device/reboot')
    const message = 'This device cannot shut down from here: the privileged helper is not installed.'
    vi.stubGlobal('fetch', vi.fn(async () => answer(503, { error: { code: 'unavailable', message } })))
    const error = (await adminApi.power('shutdown').catch((e: unknown) => e)) as ApiError
    expect(error.status).toBe(503)
    expect(error.code).toBe('unavailable')
  })
})
