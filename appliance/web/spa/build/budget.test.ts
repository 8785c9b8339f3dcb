// The first-load budget counts the entry and what it imports statically, never what comes
// with import(), and fails the build above its ceiling.
import { describe, expect, it } from 'vitest'
import { checkBudget, FIRST_LOAD_GZIP_BUDGET, firstLoadBudget, firstLoadJs, type BudgetChunk } from './budget'

/** Code that gzip cannot shrink much: about `bytes` of gzip. */
function incompressible(bytes: number, seed: number): string {
  let state = seed
  let out = ''
  while (out.length < bytes * 1.4) {
    state = (state * 1103515245 + 12345) % 2 ** 31
    out += state.toString(36)
  }
  return `export const x = '${out}'`
}

function bundle(): Record<string, BudgetChunk> {
  const chunks: BudgetChunk[] = [
    { type: 'chunk', fileName: 'index.js', isEntry: true, imports: ['vue.js', 'shared.js'], code: incompressible(30_000, 1) },
    { type: 'chunk', fileName: 'vue.js', imports: ['shared.js'], code: incompressible(20_000, 2) },
    { type: 'chunk', fileName: 'shared.js', imports: [], code: incompressible(1_000, 3) },
    // Only reached through import(): not in the first load, however big.
    { type: 'chunk', fileName: 'painter.js', imports: ['shared.js'], code: incompressible(500_000, 4) },
    { type: 'asset', fileName: 'index.css' },
  ]
  return Object.fromEntries(chunks.map((c) => [c.fileName, c]))
}

describe('first-load JavaScript budget', () => {
  it('counts the entry and its static imports, each once, and nothing loaded later', () => {
    const load = firstLoadJs(bundle())
    expect(load.files.map((f) => f.fileName)).toEqual(['index.js', 'shared.js', 'vue.js'])
    expect(load.gzipBytes).toBeGreaterThan(45_000)
    expect(load.gzipBytes).toBeLessThan(60_000)
  })

  it('passes under the ceiling and prints the figure', () => {
    const load = firstLoadJs(bundle())
    const { report, error } = checkBudget(load, 100 * 1024)
    expect(error).toBeNull()
    expect(report).toMatch(/^first-load JavaScript: \d+\.\d KB gzip in 3 files \(budget 100\.0 KB\)$/)
  })

  it('trips above the ceiling, naming the largest files', () => {
    const { error } = checkBudget(firstLoadJs(bundle()), 40 * 1024)
    expect(error).toContain('over its budget of 40.0 KB')
    expect(error).toMatch(/Largest: index\.js [\d.]+ KB, vue\.js/)
  })

  it('fails the build through the plugin', () => {
    const errors: string[] = []
    const context = {
      error: (message: string): never => {
        errors.push(message)
        throw new Error(message)
      },
    }
    type Hook = (this: typeof context, options: unknown, bundle: unknown) => void
    const run = (ceiling: number): void => (firstLoadBudget(ceiling).writeBundle as Hook).call(context, {}, bundle())
    expect(() => run(100 * 1024)).not.toThrow()
    expect(() => run(40 * 1024)).toThrow(/over its budget/)
    expect(errors).toHaveLength(1)
  })

  it('has a ceiling a phone on Wi-Fi can live with', () => {
    expect(FIRST_LOAD_GZIP_BUDGET).toBeLessThanOrEqual(160 * 1024)
  })
})
