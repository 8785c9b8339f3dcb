import { describe, expect, it } from 'vitest'
import { renderMarkdown } from './useMarkdown'

describe('renderMarkdown', () => {
  it('renders Markdown', () => {
    expect(renderMarkdown('**bold** and _it_')).toContain('<strong>bold</strong>')
  })

  it('never passes raw HTML or scripts through', () => {
    const html = renderMarkdown('<img src=x onerror=alert(1)> <script>alert(1)</script>')
    expect(html).not.toContain('<img')
    expect(html).not.toContain('<script')
    expect(renderMarkdown('[x](javascript:alert(1))')).not.toContain('href="javascript:')
  })

  it('opens links in a new tab without an opener', () => {
    const html = renderMarkdown('see https://example.org/a')
    expect(html).toContain('href="https://example.org/a"')
    expect(html).toContain('target="_blank"')
    expect(html).toContain('rel="noopener noreferrer"')
  })

  it("links addresses typed without a scheme, the LAN's .local names included", () => {
    expect(renderMarkdown('see www.example.org today')).toContain('href="http://www.example.org"')
    expect(renderMarkdown('docs at example.org/guide')).toContain('href="http://example.org/guide"')
    expect(renderMarkdown('open pychat.local/rooms/2')).toContain('href="http://pychat.local/rooms/2"')
    expect(renderMarkdown('run node.js and read notes.txt')).not.toContain('<a ')
  })

  it('marks mentions but not in code or e-mail addresses', () => {
    expect(renderMarkdown('hi @alice')).toContain('<span class="mention" data-mention="alice">@alice</span>')
    expect(renderMarkdown('`@alice`')).not.toContain('class="mention"')
    expect(renderMarkdown('mail bob@example.org')).not.toContain('class="mention"')
  })

  it('keeps code blocks as code', () => {
    // happy-dom's parser loses the tags of the very first element DOMPurify hands it (real
    // browsers do not), so the block under test comes second here.
    const html = renderMarkdown('intro\n\n```\nconst a = 1 < 2\n```')
    expect(html).toContain('<pre><code>const a = 1 &lt; 2')
  })
})
