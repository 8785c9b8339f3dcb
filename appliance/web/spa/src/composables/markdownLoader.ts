// Message bodies' renderer out of the first load: markdown-it, linkify-it, their entity
// tables and DOMPurify were ~40% of the entry chunk, all evaluated in the one task that
// started the app (issue 15, fast on a Pi). They come in their own chunk, asked for at
// start (warmUp.ts) so it arrives while the app waits for the server; the timeline places
// its rows once it is here, and a body rendered before then renders again when it comes.
import { shallowRef } from 'vue'
import type { Message } from '@/api/types'

type MarkdownModule = typeof import('./useMarkdown')
type Renderer = ReturnType<MarkdownModule['useMarkdown']>

const loaded = shallowRef<{ module: MarkdownModule; renderer: Renderer } | null>(null)
let loading: Promise<MarkdownModule> | null = null

/** The renderer's module; fetched once (again after a failed fetch). */
export function loadMarkdown(): Promise<MarkdownModule> {
  loading ??= import('./useMarkdown').then(
    (module) => {
      loaded.value = { module, renderer: module.useMarkdown() }
      return module
    },
    (error: unknown) => {
      loading = null
      throw error
    },
  )
  return loading
}

/** Safe HTML for a message body (cached by key, as useMarkdown's render); '' until the
 * renderer has arrived, and reactive, so a computed using it renders again then. */
export function renderBody(key: string, body: string): string {
  const current = loaded.value
  if (current) return current.renderer.render(key, body)
  void loadMarkdown().catch(() => undefined)
  return ''
}

/** The cache key of a message's body: its id and version. */
export function bodyKey(message: Message): string {
  return `${message.id}:${message.edited_at ?? 0}`
}

/** Renders the bodies of rows about to be drawn in one pass (useMarkdown's renderMany), so
 * their renderBody finds them ready; nothing before the renderer has arrived. */
export function prerenderBodies(messages: Message[]): void {
  const items = messages.filter((m) => !m.deleted && !m.call).map((m) => ({ key: bodyKey(m), body: m.body }))
  if (items.length > 1) loaded.value?.renderer.renderMany(items)
}

/** The renderer's module, built and run once (useMarkdown.prepareMarkdown: a task per step),
 * so that the first rows do not pay for those first uses inside their own task. */
export function prepareMarkdownSoon(): Promise<void> {
  // A chunk that cannot be fetched leaves bodies empty rather than the room without rows.
  return loadMarkdown()
    .then((module) => module.prepareMarkdown())
    .catch(() => undefined)
}
