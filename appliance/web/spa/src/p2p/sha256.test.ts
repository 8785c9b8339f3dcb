// Known answers for the SHA-256 that p2p transfers verify files with (@noble/hashes, fed in
// pieces as sender.ts and receiver.ts feed it): pins the dependency to the standard.
import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex } from '@noble/hashes/utils.js'
import { describe, expect, it } from 'vitest'

const text = (s: string) => new TextEncoder().encode(s)
const hexOf = (...pieces: Uint8Array[]) => {
  const hash = sha256.create()
  for (const piece of pieces) hash.update(piece)
  return bytesToHex(hash.digest())
}

describe('incremental SHA-256', () => {
  it('matches the FIPS 180-4 / NIST vectors', () => {
    expect(hexOf(text(''))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')
    expect(hexOf(text('abc'))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
    expect(hexOf(text('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq'))).toBe(
      '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
    )
  })

  it('hashes a million a, fed in uneven pieces', () => {
    const piece = text('a'.repeat(997))
    const pieces: Uint8Array[] = []
    for (let left = 1_000_000; left > 0; left -= piece.length) pieces.push(piece.subarray(0, Math.min(left, piece.length)))
    expect(hexOf(...pieces)).toBe('cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0')
  })

  it('agrees with Web Crypto for every length around the padding boundaries, split anywhere', async () => {
    const data = new Uint8Array(300).map((_, i) => (i * 131 + 7) & 0xff)
    for (const n of [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 128, 300]) {
      const whole = data.subarray(0, n)
      const want = bytesToHex(new Uint8Array(await crypto.subtle.digest('SHA-256', whole.slice())))
      const split = Math.floor(n / 3)
      expect(hexOf(whole.subarray(0, split), whole.subarray(split)), `length ${n}`).toBe(want)
    }
  })

  it('agrees with Web Crypto on a multi-megabyte file fed in odd-sized chunks', async () => {
    const data = new Uint8Array(5 * 1024 * 1024 + 333)
    for (let i = 0; i < data.length; i += 65536) crypto.getRandomValues(data.subarray(i, Math.min(i + 65536, data.length)))
    const chunks: Uint8Array[] = []
    for (let at = 0; at < data.length; at += 16 * 1024 + 1) chunks.push(data.subarray(at, at + 16 * 1024 + 1))
    const want = bytesToHex(new Uint8Array(await crypto.subtle.digest('SHA-256', data.slice())))
    expect(hexOf(...chunks)).toBe(want)
  })

  it('refuses to be used after its digest', () => {
    const hash = sha256.create()
    hash.digest()
    expect(() => hash.update(text('x'))).toThrow()
  })
})
