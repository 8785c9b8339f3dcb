// Chunks the first room needs at once, though the app imports them lazily, fetched with the
// entry: index.html names them in <link rel="modulepreload">. The message renderer
// (useMarkdown: markdown-it, DOMPurify) is out of the entry chunk so that its evaluation
// waits, not its download: asked for by the running app, it came a round trip and the
// entry's evaluation later, and a room's bodies wait for it (issue 15, largest paint).
import type { HtmlTagDescriptor, Plugin } from 'vite'
import type { BudgetChunk } from './budget'

/** Source modules whose chunks the first screen of a room needs. */
export const FIRST_ROOM_MODULES = ['/src/composables/useMarkdown.ts']

interface PreloadChunk extends BudgetChunk {
  /** The source modules bundled in it (the facade is null for rolldown's dynamic chunks). */
  moduleIds?: readonly string[]
}

/** The chunks of those modules and what they import, less what the entry loads anyway. */
export function chunksToPreload(bundle: Record<string, PreloadChunk>, modules: readonly string[]): string[] {
  const chunks = Object.values(bundle).filter((c) => c.type === 'chunk')
  const byName = new Map(chunks.map((c) => [c.fileName, c]))
  const reach = (starts: string[]): Set<string> => {
    const seen = new Set<string>()
    const queue = [...starts]
    while (queue.length > 0) {
      const name = queue.pop() as string
      if (seen.has(name)) continue
      seen.add(name)
      queue.push(...(byName.get(name)?.imports ?? []))
    }
    return seen
  }
  const entry = reach(chunks.filter((c) => c.isEntry === true).map((c) => c.fileName))
  const wanted = chunks
    .filter((c) => modules.some((m) => c.moduleIds?.some((id) => id.endsWith(m)) === true))
    .map((c) => c.fileName)
  return [...reach(wanted)].filter((name) => !entry.has(name)).sort()
}

export function preloadFirstRoom(): Plugin {
  let base = '/'
  return {
    name: 'pychat-preload-first-room',
    apply: 'build',
    configResolved(config) {
      base = config.base
    },
    transformIndexHtml: {
      order: 'post',
      handler(_html, context): HtmlTagDescriptor[] {
        if (!context.bundle) return []
        const bundle = context.bundle as unknown as Record<string, PreloadChunk>
        return chunksToPreload(bundle, FIRST_ROOM_MODULES).map((fileName) => ({
          tag: 'link',
          attrs: { rel: 'modulepreload', crossorigin: true, href: `${base}${fileName}` },
          injectTo: 'head',
        }))
      },
    },
  }
}
