// The emoji list ships with the app (no network), loaded the first time a picker opens.
export interface EmojiEntry {
  emoji: string
  name: string
}

export interface EmojiGroup {
  name: string
  emojis: EmojiEntry[]
}

interface RawGroup {
  name: string
  emojis: { emoji: string; name: string }[]
}

let loading: Promise<EmojiGroup[]> | null = null

export function loadEmoji(): Promise<EmojiGroup[]> {
  loading ??= import('unicode-emoji-json/data-by-group.json').then((module) => {
    const groups = (module.default as unknown as RawGroup[]).filter((g) => g.name !== 'Component')
    return groups.map((g) => ({
      name: g.name,
      emojis: g.emojis.map((e) => ({ emoji: e.emoji, name: e.name })),
    }))
  })
  return loading
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
