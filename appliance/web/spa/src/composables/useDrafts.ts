// A draft per room (and per thread), kept in localStorage across reloads.
import type { MessageId, RoomId } from '@/api/types'

const PREFIX = 'pychat.draft.'

export function draftKey(room: RoomId, thread: MessageId | null = null): string {
  return thread === null ? `${PREFIX}${room}` : `${PREFIX}${room}.${thread}`
}

export function loadDraft(room: RoomId, thread: MessageId | null = null, storage: Storage = localStorage): string {
  try {
    return storage.getItem(draftKey(room, thread)) ?? ''
  } catch {
    return ''
  }
}

export function saveDraft(
  room: RoomId,
  thread: MessageId | null,
  text: string,
  storage: Storage = localStorage,
): void {
  try {
    if (text.trim()) storage.setItem(draftKey(room, thread), text)
    else storage.removeItem(draftKey(room, thread))
  } catch {
    /* storage full: the draft lives in memory only */
  }
}

export function clearDrafts(storage: Storage = localStorage): void {
  for (let i = storage.length - 1; i >= 0; i--) {
    const key = storage.key(i)
    if (key?.startsWith(PREFIX)) storage.removeItem(key)
  }
}
