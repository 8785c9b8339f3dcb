import { describe, expect, it } from 'vitest'
import { renderMarkdown, renderMarkdownMany } from './useMarkdown'

// Bodies the timeline sanitises together must come out exactly as each alone would.
const BODIES = [
  'plain words only',
  'Message 1: **the quarterly plan**, see `plan.md` and www.example.org',
  '[a link](https://example.org/x) and @alice and :tada:',
  '```js\nconst a = 1\n```',
  '> quoted\n\n- one\n- two',
  '[x](javascript:alert(1)) <img src=x onerror=alert(1)> </div><script>alert(1)</script>',
  '<div>not a wrapper</div>',
  '',
  '| a | b |\n| - | - |\n| 1 | 2 |',
]

describe('renderMarkdownMany', () => {
  it('gives each body the HTML renderMarkdown gives it alone', () => {
    expect(renderMarkdownMany(BODIES)).toEqual(BODIES.map((body) => renderMarkdown(body)))
  })

  it('keeps each body to its own row, even next to markup that would close a wrapper', () => {
    const out = renderMarkdownMany(['</div>first', 'second'])
    expect(out[0]).not.toContain('second')
    expect(out[1]).toContain('second')
    expect(out.join('')).not.toMatch(/onerror|<script|javascript:/)
  })
})
