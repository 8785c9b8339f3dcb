// The emoji list ships with the app (no network), loaded the first time a picker opens or
// a message body holds a :shortcode:. Only emoji the bundled font (Noto Color Emoji, served
// by our own server) can draw are offered, so nobody picks an empty box.
import { ref } from 'vue'
import { EMOJI_FONT_RANGES } from './emojiFontRanges'

export interface EmojiEntry {
  emoji: string
  name: string
}

export interface EmojiGroup {
  name: string
  emojis: EmojiEntry[]
}

interface RawEmoji {
  emoji: string
  name: string
  slug: string
  emoji_version: string
}

interface RawGroup {
  name: string
  emojis: RawEmoji[]
}

/** The newest Emoji version the bundled Noto Color Emoji (2.042) draws. */
export const FONT_EMOJI_VERSION = 15.1

// Code points that are joiners and selectors, never drawn alone.
const GLUE = new Set([0x200d, 0xfe0e, 0xfe0f, 0x20e3])

function parseRanges(table: readonly string[]): [number, number][] {
  const out: [number, number][] = []
  for (const value of table) {
    for (const part of value.split(',')) {
      const [a, b] = part.trim().replace(/^U\+/i, '').split('-')
      if (!a) continue
      out.push([parseInt(a, 16), parseInt(b ?? a, 16)])
    }
  }
  return out
}

const RANGES = parseRanges(EMOJI_FONT_RANGES)

function fontHas(codePoint: number): boolean {
  return RANGES.some(([a, b]) => a <= codePoint && codePoint <= b)
}

/** True when the bundled font can draw this emoji (its version and every code point). */
export function fontSupports(emoji: string, version: string): boolean {
  if (Number(version) > FONT_EMOJI_VERSION) return false
  for (const char of emoji) {
    const cp = char.codePointAt(0) ?? 0
    if (!GLUE.has(cp) && !fontHas(cp)) return false
  }
  return true
}

// Familiar shortcodes (Slack / GitHub) beside each emoji's own slug (`party_popper`).
const ALIASES: Record<string, string> = {
  '+1': '👍',
  thumbsup: '👍',
  '-1': '👎',
  thumbsdown: '👎',
  tada: '🎉',
  smile: '😄',
  smiley: '😃',
  grin: '😁',
  laughing: '😆',
  joy: '😂',
  rofl: '🤣',
  wink: '😉',
  blush: '😊',
  heart: '❤️',
  heart_eyes: '😍',
  thinking: '🤔',
  cry: '😢',
  sob: '😭',
  sweat_smile: '😅',
  slightly_smiling_face: '🙂',
  upside_down: '🙃',
  ok_hand: '👌',
  wave: '👋',
  clap: '👏',
  pray: '🙏',
  muscle: '💪',
  eyes: '👀',
  fire: '🔥',
  rocket: '🚀',
  star: '⭐',
  sparkles: '✨',
  white_check_mark: '✅',
  heavy_check_mark: '✔️',
  x: '❌',
  warning: '⚠️',
  bug: '🐛',
  coffee: '☕',
  beer: '🍺',
  pizza: '🍕',
  cake: '🍰',
  '100': '💯',
  boom: '💥',
  zap: '⚡',
  bulb: '💡',
  memo: '📝',
  lock: '🔒',
  key: '🔑',
  shrug: '🤷',
  facepalm: '🤦',
  raised_hands: '🙌',
  point_up: '☝️',
  see_no_evil: '🙈',
  sunglasses: '😎',
  scream: '😱',
  rage: '😡',
  confused: '😕',
  neutral_face: '😐',
  hugs: '🤗',
  party: '🥳',
}

let loading: Promise<EmojiGroup[]> | null = null
const shortcodes = new Map<string, string>()
/** Bumped when the shortcode table arrives, so rendered bodies are redone once. */
export const shortcodesLoaded = ref(0)

export function loadEmoji(): Promise<EmojiGroup[]> {
  loading ??= import('unicode-emoji-json/data-by-group.json').then((module) => {
    const raw = (module.default as unknown as RawGroup[]).filter((g) => g.name !== 'Component')
    const groups = raw.map((g) => ({
      name: g.name,
      emojis: g.emojis
        .filter((e) => fontSupports(e.emoji, e.emoji_version))
        .map((e) => ({ emoji: e.emoji, name: e.name })),
    }))
    for (const g of raw) {
      for (const e of g.emojis) if (fontSupports(e.emoji, e.emoji_version)) shortcodes.set(e.slug, e.emoji)
    }
    for (const [code, emoji] of Object.entries(ALIASES)) shortcodes.set(code, emoji)
    shortcodesLoaded.value++
    return groups
  })
  return loading
}

/** The emoji for `tada` (from `:tada:`), once the data has loaded; undefined otherwise. */
export function emojiForShortcode(code: string): string | undefined {
  return shortcodes.get(code.toLowerCase())
}

export function searchEmoji(groups: EmojiGroup[], query: string, limit = 80): EmojiEntry[] {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean)
  if (!words.length) return []
  const found: EmojiEntry[] = []
  for (const group of groups) {
    for (const entry of group.emojis) {
      if (words.every((w) => entry.name.includes(w))) found.push(entry)
      if (found.length >= limit) return found
    }
  }
  return found
}
