import { describe, expect, it } from 'vitest'
import { plainHtml, renderMarkdown, unsanitisedMarkdown } from './useMarkdown'

const PLAIN = [
  'hello',
  'Hello world, how are you?',
  "it's fine; really (mostly) 100% done!",
  'line one\nline two\nline three',
  'Grüße aus Köln — naïve café',
  'こんにちは 世界',
  'ship it 🎉🚀 👍🏽 👩‍💻 🇩🇪',
  'done.',
  'a - b -- c',
  'wait. then go',
  '2 people, 3 rooms',
]

const NOT_PLAIN = [
  '**bold**',
  '_it_',
  '`code`',
  '# title',
  '- item',
  '1. first',
  '2) second',
  'see example.org',
  'e.g. this',
  'pi is 3.14',
  'hi @alice',
  ':tada:',
  'a & b',
  '1 < 2',
  'say "hi"',
  'a\n\nb',
  ' padded',
  'two spaces  \nbreak',
  'title\n---',
  'path/to/file',
  'http://x',
  'a\\b',
  'a\tb',
  'crlf\r\nline',
  '',
]

describe('the plain-text fast path', () => {
  it('makes exactly what markdown-it makes of a plain body', () => {
    for (const body of PLAIN) {
      expect(plainHtml(body), body).toBe(unsanitisedMarkdown(body))
      expect(renderMarkdown(body), body).toBe(plainHtml(body))
    }
  })

  it('leaves anything Markdown, a link, a mention, a shortcode or HTML to the full path', () => {
    for (const body of NOT_PLAIN) expect(plainHtml(body), JSON.stringify(body)).toBeNull()
  })

  it('agrees with markdown-it on random bodies from its own alphabet', () => {
    // A small fixed generator, so a failure is reproducible.
    let seed = 15
    const next = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648
      return seed % n
    }
    const alphabet = ['a', 'Z', 'é', '7', ' ', ' ', ',', '.', ';', '?', '!', "'", '%', '(', ')', '-', '\n', '🎉']
    let checked = 0
    for (let i = 0; i < 4000; i++) {
      let body = ''
      const length = 1 + next(24)
      for (let j = 0; j < length; j++) body += alphabet[next(alphabet.length)]
      const fast = plainHtml(body)
      if (fast === null) continue
      checked++
      expect(fast, JSON.stringify(body)).toBe(unsanitisedMarkdown(body))
    }
    expect(checked).toBeGreaterThan(200)
  })
})
