// Draws the PNG app icons (the same picture as public/icons/icon.svg) with no dependencies:
// a blue rounded square, a white speech bubble, three dots. Run: npm run icons
import { writeFileSync } from 'node:fs'
import { deflateSync } from 'node:zlib'

const BLUE = [0x2f, 0x62, 0xe0]
const WHITE = [0xff, 0xff, 0xff]

function crc32(buf) {
  let c
  const table = []
  for (let n = 0; n < 256; n++) {
    c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    table[n] = c >>> 0
  }
  let crc = 0xffffffff
  for (const b of buf) crc = table[(crc ^ b) & 0xff] ^ (crc >>> 8)
  return (crc ^ 0xffffffff) >>> 0
}

function chunk(type, data) {
  const len = Buffer.alloc(4)
  len.writeUInt32BE(data.length)
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data])
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(body))
  return Buffer.concat([len, body, crc])
}

function png(size, pixel) {
  const raw = Buffer.alloc(size * (size * 4 + 1))
  const S = 4 // supersampling for smooth edges
  for (let y = 0; y < size; y++) {
    raw[y * (size * 4 + 1)] = 0
    for (let x = 0; x < size; x++) {
      const acc = [0, 0, 0, 0]
      for (let sy = 0; sy < S; sy++)
        for (let sx = 0; sx < S; sx++) {
          const c = pixel(((x + (sx + 0.5) / S) / size) * 512, ((y + (sy + 0.5) / S) / size) * 512)
          for (let i = 0; i < 4; i++) acc[i] += c[i]
        }
      const o = y * (size * 4 + 1) + 1 + x * 4
      for (let i = 0; i < 4; i++) raw[o + i] = Math.round(acc[i] / (S * S))
    }
  }
  const header = Buffer.alloc(13)
  header.writeUInt32BE(size, 0)
  header.writeUInt32BE(size, 4)
  header[8] = 8 // bit depth
  header[9] = 6 // RGBA
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ])
}

function inRoundedRect(x, y, x0, y0, x1, y1, r) {
  if (x < x0 || x > x1 || y < y0 || y > y1) return false
  const cx = Math.min(Math.max(x, x0 + r), x1 - r)
  const cy = Math.min(Math.max(y, y0 + r), y1 - r)
  return (x - cx) ** 2 + (y - cy) ** 2 <= r * r
}

function inTail(x, y) {
  // Triangle (152,352) (236,352) (152,424)
  if (y < 352 || x < 152) return false
  return (x - 152) / 84 + (y - 352) / 72 <= 1
}

/** The picture on a 512 grid; `scale` shrinks the bubble into the maskable safe zone. */
function picture(full, scale) {
  return (px, py) => {
    const x = 256 + (px - 256) / scale
    const y = 256 + (py - 256) / scale
    const inTile = full ? true : inRoundedRect(px, py, 0, 0, 512, 512, 112)
    if (!inTile) return [0, 0, 0, 0]
    const bubble = inRoundedRect(x, y, 88, 144, 424, 360, 40) || inTail(x, y)
    const dot = [192, 256, 320].some((cx) => (x - cx) ** 2 + (y - 252) ** 2 <= 22 * 22)
    const color = bubble && !dot ? WHITE : BLUE
    return [...color, 255]
  }
}

const out = new URL('../public/icons/', import.meta.url)
writeFileSync(new URL('icon-192.png', out), png(192, picture(false, 1)))
writeFileSync(new URL('icon-512.png', out), png(512, picture(false, 1)))
writeFileSync(new URL('apple-touch-icon.png', out), png(180, picture(true, 1)))
writeFileSync(new URL('maskable-512.png', out), png(512, picture(true, 0.75)))
writeFileSync(new URL('favicon-32.png', out), png(32, picture(false, 1)))
console.log('icons written')
