// Message bodies: Markdown → HTML with markdown-it (raw HTML off), @mentions marked,
// code highlighted, then sanitised by DOMPurify. Links open in a new tab without opener.
import DOMPurify from 'dompurify'
import MarkdownIt from 'markdown-it'
import type { StateCore, Token } from 'markdown-it'
import { inTasks } from '@/boot/nextTask'
import { emojiForShortcode, loadEmoji, shortcodesLoaded } from './emojiData'
import { highlight, languagesLoaded } from './highlight'

const MENTION = /(^|[^\w@/])@([a-z0-9._-]{2,32})/gi

type Markdown = ReturnType<typeof MarkdownIt>

const SHORTCODE = /:([a-z0-9_+-]{1,40}):/gi

/** `:tada:` → 🎉 in text (code spans and blocks are other token types, left alone). */
function replaceShortcodes(state: StateCore): void {
  let wanted = false
  for (const block of state.tokens) {
    if (block.type !== 'inline' || !block.children) continue
    for (const token of block.children) {
      if (token.type !== 'text' || !token.content.includes(':')) continue
      token.content = token.content.replace(SHORTCODE, (whole, code: string) => {
        const emoji = emojiForShortcode(code)
        if (emoji === undefined) wanted = true
        return emoji ?? whole
      })
    }
  }
  // The table loads on first need; the rendered cache is keyed on its arrival.
  if (wanted && shortcodesLoaded.value === 0) void loadEmoji()
}

function markMentions(state: StateCore): void {
  for (const block of state.tokens) {
    if (block.type !== 'inline' || !block.children) continue
    const out: Token[] = []
    let inLink = 0
    for (const token of block.children) {
      if (token.type === 'link_open') inLink++
      if (token.type === 'link_close') inLink--
      if (token.type !== 'text' || inLink > 0 || !token.content.includes('@')) {
        out.push(token)
        continue
      }
      let last = 0
      const text = token.content
      for (const match of text.matchAll(MENTION)) {
        const start = (match.index ?? 0) + (match[1]?.length ?? 0)
        if (start > last) {
          const before = new state.Token('text', '', 0)
          before.content = text.slice(last, start)
          out.push(before)
        }
        const mention = new state.Token('mention', '', 0)
        mention.content = match[2] ?? ''
        out.push(mention)
        last = start + 1 + (match[2]?.length ?? 0)
      }
      if (last === 0) {
        out.push(token)
        continue
      }
      if (last < text.length) {
        const after = new state.Token('text', '', 0)
        after.content = text.slice(last)
        out.push(after)
      }
    }
    block.children = out
  }
}

function createRenderer(): Markdown {
  const md: Markdown = new MarkdownIt({
    html: false,
    linkify: true,
    breaks: true,
    highlight: (code, language) => {
      const html = language ? highlight(code, language) : null
      if (html === null) return ''
      return `<pre><code class="hljs language-${md.utils.escapeHtml(language)}">${html}</code></pre>`
    },
  })
  // Addresses typed without a scheme are links too (`www.example.org`, `example.org/x`), as
  // people expect from Slack; and `.local`, where an office's own devices live, is a domain.
  md.linkify.set({ fuzzyLink: true })
  md.linkify.tlds('local', true)
  md.core.ruler.push('shortcodes', replaceShortcodes)
  md.core.ruler.push('mentions', markMentions)
  md.renderer.rules.mention = (tokens, idx) => {
    const name = md.utils.escapeHtml(tokens[idx]?.content ?? '')
    return `<span class="mention" data-mention="${name}">@${name}</span>`
  }
  const defaultLink = md.renderer.rules.link_open
  md.renderer.rules.link_open = (tokens, idx, options, env, self) => {
    const token = tokens[idx]
    token?.attrSet('target', '_blank')
    token?.attrSet('rel', 'noopener noreferrer')
    return defaultLink ? defaultLink(tokens, idx, options, env, self) : self.renderToken(tokens, idx, options)
  }
  return md
}

let renderer: Markdown | null = null
let purifier: ReturnType<typeof DOMPurify> | null = null
let batchPurifier: ReturnType<typeof DOMPurify> | null = null

/** Our own DOMPurify with its settings parsed once: given per call, they were parsed again
 * for every message (a third of the sanitising time on a 50-message page). The batch one
 * hands back a fragment (renderMarkdownMany). */
function createPurifier(fragment = false): ReturnType<typeof DOMPurify> {
  const purify = DOMPurify(window)
  purify.setConfig({
    ADD_ATTR: ['target', 'data-mention'],
    FORBID_TAGS: ['style', 'form', 'input', 'button', 'textarea', 'select'],
    FORBID_ATTR: ['style'],
    RETURN_DOM_FRAGMENT: fragment,
  })
  purify.addHook('afterSanitizeAttributes', (node) => {
    if (node.tagName === 'A' && node.hasAttribute('href')) {
      node.setAttribute('target', '_blank')
      node.setAttribute('rel', 'noopener noreferrer')
    }
  })
  return purify
}

/** Safe HTML for a message body. */
export function renderMarkdown(body: string): string {
  const plain = plainHtml(body)
  if (plain !== null) return plain
  renderer ??= createRenderer()
  purifier ??= createPurifier()
  return purifier.sanitize(renderer.render(body))
}

/**
 * Safe HTML for many bodies, sanitised in one pass: DOMPurify's cost per call (a document
 * parsed for each) was most of a row's time on a phone. Each body goes in a <div> of its
 * own; markdown-it (raw HTML off) writes balanced markup, so each comes back in its own
 * div, which is checked (else one at a time). The same HTML as renderMarkdown's.
 */
export function renderMarkdownMany(bodies: string[]): string[] {
  const out = bodies.map(plainHtml)
  const todo = out.flatMap((html, i) => (html === null ? [i] : []))
  if (todo.length > 1) {
    renderer ??= createRenderer()
    batchPurifier ??= createPurifier(true)
    const md = renderer
    const wrapped = todo.map((i) => `<div>${md.render(bodies[i] as string)}</div>`).join('')
    // RETURN_DOM_FRAGMENT (set once, in setConfig): a fragment, whatever sanitize's type says.
    const parts = [...(batchPurifier.sanitize(wrapped) as unknown as DocumentFragment).children]
    if (parts.length === todo.length && parts.every((part) => part.tagName === 'DIV')) {
      todo.forEach((i, k) => (out[i] = (parts[k] as Element).innerHTML))
    }
  }
  return out.map((html, i) => html ?? renderMarkdown(bodies[i] as string))
}

/** markdown-it's HTML before sanitising: what plainHtml must match (its tests). */
export function unsanitisedMarkdown(body: string): string {
  renderer ??= createRenderer()
  return renderer.render(body)
}

/** Letters, digits, marks, emoji and a little punctuation: nothing Markdown, linkify, mentions
 * or shortcodes act on, and nothing HTML escapes (no `& < > "`). */
const PLAIN_LINE = /^[\p{L}\p{M}\p{N}\p{Extended_Pictographic}\p{Emoji_Modifier}\p{Regional_Indicator}\u200d\ufe0f\u2013\u2014\u2018\u2019\u2026 ,.;?!'%()-]+$/u

/**
 * Most chat lines are plain words, and markdown-it plus DOMPurify cost a few ms each on a
 * phone: such a body becomes what the full path would make of it (one paragraph, `<br>`
 * between lines) without either. Null when the body needs the full path.
 */
export function plainHtml(body: string): string | null {
  if (body.length > 2000) return null
  const lines = body.split('\n')
  for (const line of lines) {
    // Blank or padded lines, list markers and "1." starts, and dotted words (example.org,
    // e.g., 1.5, which linkify may take for addresses) are the full path's to judge.
    if (!PLAIN_LINE.test(line) || line.trim() !== line || line.startsWith('-')) return null
    if (/^\d+[.)]/.test(line) || /\S\.\S/.test(line)) return null
  }
  return `<p>${lines.join('<br>\n')}</p>\n`
}

let prepared: Promise<void> | null = null

/** Builds the renderer and the sanitiser ahead of the first rows (while a room's history is
 * on its way), so those rows do not pay for them (~40 ms on a phone); and runs each once,
 * linkify's first match compiling its large expressions (as costly again). One step per
 * task: all of it in one was a 90 ms long task of its own. Resolves when all are done. */
export function prepareMarkdown(): Promise<void> {
  prepared ??= inTasks([
    () => void (renderer ??= createRenderer()),
    () => void (purifier ??= createPurifier()),
    () => void (batchPurifier ??= createPurifier(true)),
    () => void renderer?.linkify.match('www.example.org https://example.org/c d@example.org'),
    () => void renderer?.render('**a** `b` www.example.org @e'),
    () => void purifier?.sanitize('<p><strong>a</strong> <code>b</code> <a href="https://example.org/">c</a></p>'),
    () => void batchPurifier?.sanitize('<div><p><em>a</em></p></div><div><p>b</p></div>'),
  ])
  return prepared
}

/** Rendered HTML by message id and version, least recently used dropped first, so scrolling
 * back never re-parses and a long session does not keep every body twice. */
const cache = new Map<string, string>()
const CACHE_LIMIT = 2_000

/** Renders through that cache: key is the message id and version. */
export function useMarkdown() {
  function render(key: string, body: string): string {
    const full = `${key}:${languagesLoaded.value}:${shortcodesLoaded.value}`
    const held = cache.get(full)
    if (held !== undefined) {
      cache.delete(full)
      cache.set(full, held)
      return held
    }
    return remember(full, renderMarkdown(body))
  }
  /** Renders those not held yet in one pass (renderMarkdownMany), for render to find. */
  function renderMany(items: { key: string; body: string }[]): void {
    const suffix = `:${languagesLoaded.value}:${shortcodesLoaded.value}`
    const missing = items.filter((item) => !cache.has(item.key + suffix))
    const htmls = renderMarkdownMany(missing.map((item) => item.body))
    missing.forEach((item, i) => remember(item.key + suffix, htmls[i] as string))
  }
  return { render, renderMany }
}

function remember(key: string, html: string): string {
  if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value as string)
  cache.set(key, html)
  return html
}
