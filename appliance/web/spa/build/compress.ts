// Brotli and gzip copies of every compressible built file, made once at build time: the
// server (aiohttp's FileResponse) sends `x.js.br` or `x.js.gz` to a browser that accepts it,
// so a Pi spends no CPU per request and a phone on Wi-Fi downloads a third of the bytes.
// Runs after every other plugin has written its files (the service worker's precache list).
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { brotliCompressSync, constants, gzipSync } from 'node:zlib'
import type { Plugin } from 'vite'

// Text formats; fonts (woff2) and images are compressed already.
const COMPRESSIBLE = /\.(js|mjs|css|html|svg|json|webmanifest|txt)$/
const MIN_BYTES = 1024 // below this, the headers cost more than the saving
const WORTH_IT = 0.9 // keep a copy only when it is at least 10% smaller

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = join(dir, name)
    return statSync(full).isDirectory() ? filesUnder(full) : [full]
  })
}

export function compressBuild(): Plugin {
  let outDir = ''
  return {
    name: 'pychat-compress-build',
    apply: 'build',
    enforce: 'post',
    configResolved(config) {
      outDir = resolve(config.root, config.build.outDir)
    },
    closeBundle: {
      order: 'post',
      sequential: true,
      handler() {
        for (const file of filesUnder(outDir)) {
          if (!COMPRESSIBLE.test(file)) continue
          const raw = readFileSync(file)
          if (raw.length < MIN_BYTES) continue
          const br = brotliCompressSync(raw, {
            params: {
              [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
              [constants.BROTLI_PARAM_SIZE_HINT]: raw.length,
            },
          })
          if (br.length <= raw.length * WORTH_IT) writeFileSync(`${file}.br`, br)
          const gz = gzipSync(raw, { level: 9 })
          if (gz.length <= raw.length * WORTH_IT) writeFileSync(`${file}.gz`, gz)
        }
      },
    },
  }
}
