// Peer-to-peer messages live only here: an IndexedDB database of their own per signed-in
// user, never the app's server-backed cache.

import { finished as done, promised } from '@/persistence/idb'

export interface P2pMessage {
  /** Chosen by the author's device (a UUID): the same message is the same id everywhere. */
  id: string
  room: number
  author: number
  body: string
  created_at: number
}

export interface StoredP2pMessage extends P2pMessage {
  /** This device saw another person's device hold it (always true for others' messages). */
  delivered: boolean
}

const STORE = 'messages'
export const MAX_BODY = 10_000

export function isP2pMessage(value: unknown): value is P2pMessage {
  if (typeof value !== 'object' || value === null) return false
  const m = value as Record<string, unknown>
  return (
    typeof m.id === 'string' &&
    /^[\w-]{8,64}$/.test(m.id) &&
    typeof m.room === 'number' &&
    Number.isSafeInteger(m.room) &&
    typeof m.author === 'number' &&
    Number.isSafeInteger(m.author) &&
    typeof m.body === 'string' &&
    m.body.length > 0 &&
    m.body.length <= MAX_BODY &&
    typeof m.created_at === 'number' &&
    Number.isFinite(m.created_at)
  )
}

export function byTime(a: P2pMessage, b: P2pMessage): number {
  return a.created_at - b.created_at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
}

export class P2pMessageDb {
  private constructor(private readonly db: IDBDatabase) {}

  static async open(userId: number): Promise<P2pMessageDb> {
    const request = indexedDB.open(`pychat-p2p-${userId}`, 1)
    request.onupgradeneeded = () => {
      const store = request.result.createObjectStore(STORE, { keyPath: 'id' })
      store.createIndex('room', 'room')
    }
    return new P2pMessageDb(await promised(request))
  }

  async room(room: number): Promise<StoredP2pMessage[]> {
    const tx = this.db.transaction(STORE)
    const found = await promised(tx.objectStore(STORE).index('room').getAll(room))
    return (found as StoredP2pMessage[]).sort(byTime)
  }

  /** Stores the messages not held yet; returns those. */
  async add(messages: StoredP2pMessage[]): Promise<StoredP2pMessage[]> {
    const tx = this.db.transaction(STORE, 'readwrite')
    const store = tx.objectStore(STORE)
    const added: StoredP2pMessage[] = []
    for (const m of messages) {
      if ((await promised(store.getKey(m.id))) !== undefined) continue
      store.put(m)
      added.push(m)
    }
    await done(tx)
    return added
  }

  async markDelivered(ids: string[]): Promise<string[]> {
    const tx = this.db.transaction(STORE, 'readwrite')
    const store = tx.objectStore(STORE)
    const changed: string[] = []
    for (const id of ids) {
      const m = (await promised(store.get(id))) as StoredP2pMessage | undefined
      if (!m || m.delivered) continue
      store.put({ ...m, delivered: true })
      changed.push(id)
    }
    await done(tx)
    return changed
  }

  close(): void {
    this.db.close()
  }
}
