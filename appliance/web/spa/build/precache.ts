// Writes the precache list and a version hash into the built sw.js: what vite-plugin-pwa
// does for us, without its dependencies. The service worker in public/sw.js carries two
// placeholders; every occurrence of each is replaced.
import { createHash } from 'node:crypto'
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import type { Plugin } from 'vite'

const SW_FILE = 'sw.js'
const NEVER_PRECACHE = new Set([SW_FILE, '.vite/manifest.json'])
// Fonts (the colour emoji are ~9 MB over 11 unicode-range subsets) are cached by the
// service worker when a page first needs them, never all at install.
const LAZY = /\.(woff2?|ttf)$/
// The server's compressed copies of built files (build/compress.ts): the browser asks for the
// file itself and gets whichever its Accept-Encoding allows.
const COMPRESSED_COPY = /\.(br|gz)$/

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = join(dir, name)
    return statSync(full).isDirectory() ? filesUnder(full) : [full]
  })
}

export function precacheServiceWorker(): Plugin {
  let outDir = ''
  return {
    name: 'pychat-precache-service-worker',
    apply: 'build',
    configResolved(config) {
      outDir = resolve(config.root, config.build.outDir)
    },
    closeBundle() {
      const files = filesUnder(outDir)
        .map((f) => relative(outDir, f).split('\\').join('/'))
        .filter((f) => !NEVER_PRECACHE.has(f) && !f.startsWith('.') && !LAZY.test(f) && !COMPRESSED_COPY.test(f))
        .sort()
      const hash = createHash('sha256')
      for (const f of files) hash.update(f).update(readFileSync(join(outDir, f)))
      const version = hash.digest('hex').slice(0, 16)
      const swPath = join(outDir, SW_FILE)
      const source = readFileSync(swPath, 'utf8')
      const urls = files.map((f) => (f === 'index.html' ? '/' : `/${f}`))
      const built = source
        .replaceAll("'__PRECACHE_URLS__'", JSON.stringify(urls))
        .replaceAll('__BUILD_VERSION__', version)
      writeFileSync(swPath, built)
      writeFileSync(join(outDir, 'version.json'), JSON.stringify({ version }) + '\n')
    },
  }
}
