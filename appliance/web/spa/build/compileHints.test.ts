// The compile hint goes on the files that run as a room first opens, and on no other: a
// hinted file has every function compiled up front, a waste for code that may never run.
import { describe, expect, it } from 'vitest'
import { chunksRunAtLoad } from './compileHints'

describe('compile hints', () => {
  it('marks the entry, its static imports and the first room preloads, not lazy chunks', () => {
    const bundle = {
      'index.js': { type: 'chunk' as const, fileName: 'index.js', isEntry: true, imports: ['vue.js'], code: '' },
      'vue.js': { type: 'chunk' as const, fileName: 'vue.js', imports: [], code: '' },
      'md.js': {
        type: 'chunk' as const,
        fileName: 'md.js',
        imports: ['vue.js', 'emoji.js'],
        moduleIds: ['/app/src/composables/useMarkdown.ts'],
        code: '',
      },
      'emoji.js': { type: 'chunk' as const, fileName: 'emoji.js', imports: [], code: '' },
      'painter.js': { type: 'chunk' as const, fileName: 'painter.js', imports: ['vue.js'], code: '' },
      'admin.js': { type: 'chunk' as const, fileName: 'admin.js', imports: [], code: '' },
    }
    expect(chunksRunAtLoad(bundle)).toEqual(['emoji.js', 'index.js', 'md.js', 'vue.js'])
  })
})
