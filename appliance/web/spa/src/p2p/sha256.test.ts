import { describe, expect, it } from 'vitest'
import { Sha256 } from './sha256'

const text = (s: string) => new TextEncoder().encode(s)

describe('Sha256', () => {
  it('matches the FIPS 180-4 / NIST vectors', () => {
    expect(new Sha256().update(text('')).hex()).toBe(
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    )
    expect(new Sha256().update(text('abc')).hex()).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    )
    expect(new Sha256().update(text('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')).hex()).toBe(
      '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
    )
  })

  it('hashes a million a, fed in uneven pieces', () => {
    const hash = new Sha256()
    const piece = text('a'.repeat(997))
    let left = 1_000_000
    while (left > 0) {
      const n = Math.min(left, piece.length)
      hash.update(piece.subarray(0, n))
      left -= n
    }
    expect(hash.hex()).toBe('cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0')
  })

  it('agrees with Web Crypto for every length around the padding boundaries, split anywhere', async () => {
    const data = new Uint8Array(300).map((_, i) => (i * 131 + 7) & 0xff)
    for (const n of [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 128, 300]) {
      const whole = data.subarray(0, n)
      const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', whole.slice()))
      const want = Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('')
      const split = Math.floor(n / 3)
      const got = new Sha256().update(whole.subarray(0, split)).update(whole.subarray(split)).hex()
      expect(got, `length ${n}`).toBe(want)
    }
  })

  it('refuses to be used after its digest', () => {
    const hash = new Sha256()
    hash.digest()
    expect(() => hash.update(text('x'))).toThrow()
  })
})
