// Messages on a peer-to-peer conversation's data channel (docs/api/p2p.md), with limits:
// a device that sends more or bigger than these is ignored, not obeyed.
import type { P2pMessage } from './messageDb'

export type SyncMessage =
  | { t: 'have'; ids: string[] }
  | { t: 'msgs'; messages: P2pMessage[] }
  | { t: 'got'; ids: string[] }

export const MAX_IDS = 50_000
export const MAX_BATCH = 200
/** Kept well under the 256 KiB a data channel message may carry between browsers. */
export const MAX_BATCH_CHARS = 128 * 1024

function ids(value: unknown): string[] | null {
  if (!Array.isArray(value) || value.length > MAX_IDS) return null
  return value.every((id) => typeof id === 'string' && id.length <= 64) ? (value as string[]) : null
}

export function parseSyncMessage(text: string): SyncMessage | null {
  if (text.length > MAX_BATCH_CHARS * 2 + MAX_IDS * 70) return null
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return null
  }
  if (typeof value !== 'object' || value === null) return null
  const v = value as Record<string, unknown>
  if (v.t === 'have' || v.t === 'got') {
    const list = ids(v.ids)
    return list ? { t: v.t, ids: list } : null
  }
  if (v.t === 'msgs' && Array.isArray(v.messages) && v.messages.length <= MAX_BATCH) {
    return { t: 'msgs', messages: v.messages as P2pMessage[] } // each one is checked on use
  }
  return null
}

/** Splits messages into batches within MAX_BATCH messages and MAX_BATCH_CHARS characters. */
export function planBatches(messages: P2pMessage[]): P2pMessage[][] {
  const batches: P2pMessage[][] = []
  let current: P2pMessage[] = []
  let chars = 0
  for (const m of messages) {
    const size = JSON.stringify(m).length + 1
    if (current.length && (current.length >= MAX_BATCH || chars + size > MAX_BATCH_CHARS)) {
      batches.push(current)
      current = []
      chars = 0
    }
    current.push(m)
    chars += size
  }
  if (current.length) batches.push(current)
  return batches
}
