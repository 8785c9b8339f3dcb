import { afterEach, describe, expect, it } from 'vitest'
import { ApiError, isAbort, useXhrFactory } from '@/api/http'
import { FakeXhr } from '@/testing/fakeXhr'
import { uploadFile } from './uploadClient'

function current(): FakeXhr {
  if (!FakeXhr.last) throw new Error('no request')
  return FakeXhr.last
}

useXhrFactory(() => new FakeXhr() as unknown as XMLHttpRequest)
afterEach(() => {
  FakeXhr.last = null
})

describe('upload client', () => {
  it('posts the duration before the file, with the session, and reports progress', async () => {
    const seen: number[] = []
    const done = uploadFile(new Blob(['abcd'], { type: 'audio/webm' }), { name: 'Voice.webm', durationMs: 3100.4 }, {
      onProgress: (loaded) => seen.push(loaded),
    })
    const xhr = current()
    expect([xhr.method, xhr.url, xhr.withCredentials]).toEqual(['POST', '/api/uploads', true])
    expect([...(xhr.body?.keys() ?? [])]).toEqual(['duration_ms', 'file'])
    expect(xhr.body?.get('duration_ms')).toBe('3100')
    expect((xhr.body?.get('file') as Blob).size).toBe(4) // (its name: see the browser tests)
    xhr.upload.onprogress?.({ lengthComputable: true, loaded: 2, total: 4 })
    xhr.answer(201, { upload: { id: 7, name: 'Voice.webm', size: 4, mime: 'audio/webm', url: '/api/uploads/7/Voice.webm' } })
    expect((await done).id).toBe(7)
    expect(seen).toEqual([2])
  })

  it("turns a refusal into the server's own words", async () => {
    const done = uploadFile(new Blob(['x']), { name: 'big.iso' })
    current().answer(413, { error: { code: 'too_large', message: 'Files are limited to 100 MiB.' } })
    const error = await done.catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ApiError)
    expect([(error as ApiError).status, (error as ApiError).code, (error as ApiError).message]).toEqual([
      413,
      'too_large',
      'Files are limited to 100 MiB.',
    ])
  })

  it('says when the network is gone, and when the person cancelled', async () => {
    const lost = uploadFile(new Blob(['x']), { name: 'a' })
    current().onerror?.()
    expect(((await lost.catch((e: unknown) => e)) as ApiError).isNetwork).toBe(true)

    const controller = new AbortController()
    const cancelled = uploadFile(new Blob(['x']), { name: 'b' }, { signal: controller.signal })
    controller.abort()
    expect(isAbort(await cancelled.catch((e: unknown) => e))).toBe(true)
  })
})
