// `@` completion in the composer: find the word being typed, offer people and @room.
import { computed, ref, type Ref } from 'vue'
import type { User } from '@/api/types'

export interface MentionQuery {
  /** Where the `@` is. */
  start: number
  /** What follows it, up to the caret. */
  text: string
}

const AT_WORD = /(^|[\s(])@([a-z0-9._-]*)$/i

/** The mention being typed at the caret, if any. */
export function mentionAt(value: string, caret: number): MentionQuery | null {
  const match = AT_WORD.exec(value.slice(0, caret))
  if (!match) return null
  const text = match[2] ?? ''
  return { start: caret - text.length - 1, text }
}

/** The text with the mention replaced by the completion, and where the caret goes. */
export function completeMention(
  value: string,
  query: MentionQuery,
  caret: number,
  username: string,
): { value: string; caret: number } {
  const inserted = `@${username} `
  const next = value.slice(0, query.start) + inserted + value.slice(caret).replace(/^\S*/, '')
  return { value: next, caret: query.start + inserted.length }
}

export interface Suggestion {
  key: string
  username: string
  label: string
  detail: string
}

const ROOM_WORDS = ['room', 'here', 'channel', 'everyone']

export function useMentionAutocomplete(candidates: Ref<User[]>, allowRoom: Ref<boolean>) {
  const query = ref<MentionQuery | null>(null)
  const selected = ref(0)

  const suggestions = computed<Suggestion[]>(() => {
    const q = query.value
    if (!q) return []
    const needle = q.text.toLowerCase()
    const people = candidates.value
      .filter(
        (u) =>
          !u.deactivated &&
          !u.system && // Echo is nobody to mention (the server ignores it too)
          (u.username.startsWith(needle) || u.display_name.toLowerCase().includes(needle)),
      )
      .slice(0, 7)
      .map((u) => ({ key: `u${u.id}`, username: u.username, label: u.display_name || u.username, detail: `@${u.username}` }))
    const room = allowRoom.value && ROOM_WORDS[0]!.startsWith(needle)
      ? [{ key: 'room', username: 'room', label: '@room', detail: 'Notify everyone in this room' }]
      : []
    return [...people, ...room]
  })

  function update(value: string, caret: number): void {
    query.value = mentionAt(value, caret)
    selected.value = 0
  }

  function close(): void {
    query.value = null
  }

  function move(delta: number): void {
    const n = suggestions.value.length
    if (n) selected.value = (selected.value + delta + n) % n
  }

  return { query, selected, suggestions, update, close, move }
}
