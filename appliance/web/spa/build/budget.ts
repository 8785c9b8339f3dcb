// The first load's JavaScript has a ceiling (issue 15: fast on a Pi over Wi-Fi). A phone
// fetches, parses and runs the entry chunk and every chunk it imports statically before the
// first message shows; anything imported with import() comes later, on use. The build prints
// that total (gzip, what a browser downloads) and fails above the ceiling, so a heavy import
// slipping into the first load is caught at build time, not in a Lighthouse run.
import { gzipSync } from 'node:zlib'
import type { Plugin } from 'vite'

/** Bytes of gzip. Raise it only on purpose: the commit that does says why. */
export const FIRST_LOAD_GZIP_BUDGET = 150 * 1024

/** The part of a Rollup output chunk the budget reads. */
export interface BudgetChunk {
  type: 'chunk' | 'asset'
  fileName: string
  isEntry?: boolean
  imports?: string[]
  code?: string
}

export interface FirstLoad {
  files: { fileName: string; gzipBytes: number }[]
  gzipBytes: number
}

/** The entry chunks and everything they import statically, with their gzip sizes. */
export function firstLoadJs(bundle: Record<string, BudgetChunk>): FirstLoad {
  const chunks = Object.values(bundle).filter((c) => c.type === 'chunk')
  const byName = new Map(chunks.map((c) => [c.fileName, c]))
  const seen = new Set<string>()
  const queue = chunks.filter((c) => c.isEntry === true).map((c) => c.fileName)
  while (queue.length > 0) {
    const name = queue.pop() as string
    if (seen.has(name)) continue
    seen.add(name)
    for (const imported of byName.get(name)?.imports ?? []) queue.push(imported)
  }
  const files = [...seen]
    .sort()
    .map((fileName) => ({ fileName, gzipBytes: gzipSync(byName.get(fileName)?.code ?? '', { level: 9 }).length }))
  return { files, gzipBytes: files.reduce((sum, f) => sum + f.gzipBytes, 0) }
}

const kb = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KB`

/** The line the build prints, and an error message when the ceiling is exceeded. */
export function checkBudget(load: FirstLoad, ceiling: number): { report: string; error: string | null } {
  const report = `first-load JavaScript: ${kb(load.gzipBytes)} gzip in ${load.files.length} files (budget ${kb(ceiling)})`
  if (load.gzipBytes <= ceiling) return { report, error: null }
  const largest = [...load.files]
    .sort((a, b) => b.gzipBytes - a.gzipBytes)
    .slice(0, 5)
    .map((f) => `${f.fileName} ${kb(f.gzipBytes)}`)
    .join(', ')
  return {
    report,
    error:
      `first-load JavaScript is ${kb(load.gzipBytes)} gzip, over its budget of ${kb(ceiling)} ` +
      `(build/budget.ts). Largest: ${largest}. Load heavy code with import() where it is used.`,
  }
}

export function firstLoadBudget(ceiling: number = FIRST_LOAD_GZIP_BUDGET): Plugin {
  let minified = true
  return {
    name: 'pychat-first-load-budget',
    apply: 'build',
    configResolved(config) {
      minified = config.build.minify !== false
    },
    // After every plugin has had its say on the code (the preload helper's lists included).
    writeBundle(_options, bundle) {
      if (!minified) return // a debugging build: the budget is for what ships
      const { report, error } = checkBudget(firstLoadJs(bundle as Record<string, BudgetChunk>), ceiling)
      console.log(report)
      if (error) this.error(error)
    },
  }
}
