import { describe, expect, it } from 'vitest'
import { emojiForShortcode, fontSupports, loadEmoji } from './emojiData'
import { renderMarkdown } from './useMarkdown'

describe(':shortcode: emoji', () => {
  it('renders :tada: and slugs as emoji once the bundled data has loaded', async () => {
    await loadEmoji()
    expect(emojiForShortcode('tada')).toBe('🎉')
    expect(renderMarkdown('ship it :tada:')).toContain('ship it 🎉')
    expect(renderMarkdown(':party_popper: and :+1:')).toContain('🎉 and 👍')
  })

  it('leaves code spans, code blocks and unknown codes alone', async () => {
    await loadEmoji()
    expect(renderMarkdown('`:tada:`')).toContain('<code>:tada:</code>')
    expect(renderMarkdown('```\n:tada:\n```')).toContain(':tada:')
    expect(renderMarkdown('```\n:tada:\n```')).not.toContain('🎉')
    expect(renderMarkdown('at 10:30:45 :no_such_emoji:')).toContain('10:30:45 :no_such_emoji:')
  })

  it('offers only emoji the bundled font draws', async () => {
    const groups = await loadEmoji()
    expect(fontSupports('🎉', '0.6')).toBe(true)
    expect(fontSupports('🎉', '99.0')).toBe(false)
    // Emoji 16.0 and later are beyond the bundled Noto 2.042: never offered as empty boxes.
    expect(fontSupports('🫩', '16.0')).toBe(false)
    expect(groups.some((g) => g.emojis.some((e) => e.emoji === '🫩'))).toBe(false)
    const all = groups.flatMap((g) => g.emojis.map((e) => e.emoji))
    expect(all).toContain('😀')
    expect(all.length).toBeGreaterThan(1800)
  })
})
