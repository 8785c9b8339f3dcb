// The first room's lazy chunks are named in index.html for the browser to fetch with the
// entry: the renderer's chunk and its imports, not what the entry loads anyway.
import { describe, expect, it } from 'vitest'
import { chunksToPreload } from './preloadChunks'

describe('first-room preloads', () => {
  it('lists the chunk holding the module and its own imports, less the entry graph', () => {
    const bundle = {
      'index.js': { type: 'chunk' as const, fileName: 'index.js', isEntry: true, imports: ['vue.js'] },
      'vue.js': { type: 'chunk' as const, fileName: 'vue.js', imports: [] },
      'md.js': {
        type: 'chunk' as const,
        fileName: 'md.js',
        imports: ['vue.js', 'emoji.js'],
        moduleIds: ['/app/src/composables/useMarkdown.ts', '/app/node_modules/markdown-it/index.js'],
      },
      'emoji.js': { type: 'chunk' as const, fileName: 'emoji.js', imports: [] },
      'painter.js': { type: 'chunk' as const, fileName: 'painter.js', imports: ['vue.js'] },
    }
    expect(chunksToPreload(bundle, ['/src/composables/useMarkdown.ts'])).toEqual(['emoji.js', 'md.js'])
  })
})
