// V8 compiles a function the first time it is called, on the main thread, unless told that a
// file's functions run at load: then it compiles them while the file streams in, off the main
// thread (explicit compile hints, Chrome 136). Starting the app calls most of the first load's
// code once, cold, and that lazy compiling was a large share of a phone's blocking time
// (issue 15). The first load's chunks, and those the first room preloads, get the hint; the
// rest (admin, calls, the painter) stay lazy, as most of their functions never run.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Plugin } from 'vite'
import { firstLoadJs, type BudgetChunk } from './budget'
import { chunksToPreload, FIRST_ROOM_MODULES } from './preloadChunks'

/** The magic comment; it must be the file's first line. */
export const COMPILE_HINT = '//# allFunctionsCalledOnLoad\n'

interface HintedChunk extends BudgetChunk {
  moduleIds?: readonly string[]
}

/** The chunks that run as the first room opens: the entry's and the first room's preloads. */
export function chunksRunAtLoad(bundle: Record<string, HintedChunk>): string[] {
  const atLoad = new Set(firstLoadJs(bundle).files.map((f) => f.fileName))
  for (const name of chunksToPreload(bundle, FIRST_ROOM_MODULES)) atLoad.add(name)
  return [...atLoad].sort()
}

export function compileHints(): Plugin {
  return {
    name: 'pychat-compile-hints',
    apply: 'build',
    // Once the files are written, each in its final form (Vite's preload helper writes its
    // line at the top of the entry late), and before they are compressed and precached.
    writeBundle: {
      sequential: true,
      order: 'pre',
      handler(options, bundle) {
        for (const name of chunksRunAtLoad(bundle as unknown as Record<string, HintedChunk>)) {
          const chunk = bundle[name]
          if (chunk?.type !== 'chunk' || chunk.code.startsWith(COMPILE_HINT)) continue
          chunk.code = COMPILE_HINT + chunk.code
          writeFileSync(join(options.dir ?? '', name), chunk.code)
        }
      },
    },
  }
}
