// IndexedDB: the last known state (rooms, users, recent history per room, the last seq)
// and the outbox. The app opens from it at once, then catches up over the socket.
import type { Message, MessageId, Room, RoomId, Upload, User } from '@/api/types'
import { finished, promised } from '@/persistence/idb'

export interface Snapshot {
  me: User
  seq: number | null
  users: User[]
  rooms: Room[]
  /** Read markers moved here and not yet sent (read while offline). */
  unsentReads?: Record<RoomId, MessageId>
  savedAt: number
}

export interface CachedHistory {
  room: RoomId
  messages: Message[]
  hasOlder: boolean
}

export type OutboxState = 'pending' | 'sending' | 'failed'

/** A file of a queued message. Its bytes wait in src/uploads/blobStore.ts under `key`
 * until `upload` is set (the server has them). */
export interface OutboxFile {
  key: string
  name: string
  size: number
  mime: string
  duration_ms: number | null
  upload: Upload | null
}

export interface OutboxEntry {
  client_id: string
  room: RoomId
  thread: MessageId | null
  body: string
  /** Local clock, for display and ordering. */
  created_at: number
  /** Monotonic order of writing; the outbox sends in this order. */
  order: number
  state: OutboxState
  error: string | null
  /** Attachments, uploaded before the message is sent (absent in entries of older versions). */
  files?: OutboxFile[]
}

const VERSION = 1
const META = 'meta'
const HISTORY = 'history'
const OUTBOX = 'outbox'
const SNAPSHOT_KEY = 'snapshot'

/** Vue proxies cannot be structured-cloned; JSON is also a defensive deep copy. */
function plain<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T
}

export class ChatCache {
  private constructor(private readonly db: IDBDatabase) {}

  static open(name = 'pychat', factory: IDBFactory = indexedDB): Promise<ChatCache> {
    return new Promise((resolve, reject) => {
      const request = factory.open(name, VERSION)
      request.onupgradeneeded = () => {
        const db = request.result
        if (!db.objectStoreNames.contains(META)) db.createObjectStore(META)
        if (!db.objectStoreNames.contains(HISTORY)) db.createObjectStore(HISTORY, { keyPath: 'room' })
        if (!db.objectStoreNames.contains(OUTBOX)) db.createObjectStore(OUTBOX, { keyPath: 'client_id' })
      }
      request.onsuccess = () => resolve(new ChatCache(request.result))
      request.onerror = () => reject(request.error)
      request.onblocked = () => reject(new Error('IndexedDB is blocked by another tab'))
    })
  }

  close(): void {
    this.db.close()
  }

  async load(): Promise<{ snapshot: Snapshot; histories: CachedHistory[] } | null> {
    const tx = this.db.transaction([META, HISTORY], 'readonly')
    const [snapshot, histories] = await Promise.all([
      promised(tx.objectStore(META).get(SNAPSHOT_KEY)) as Promise<Snapshot | undefined>,
      promised(tx.objectStore(HISTORY).getAll()) as Promise<CachedHistory[]>,
    ])
    return snapshot ? { snapshot, histories } : null
  }

  /** Writes state and history in one transaction, so the seq always matches the data. */
  async save(snapshot: Snapshot, histories: CachedHistory[]): Promise<void> {
    const tx = this.db.transaction([META, HISTORY], 'readwrite')
    const done = finished(tx)
    tx.objectStore(META).put(plain(snapshot), SNAPSHOT_KEY)
    const history = tx.objectStore(HISTORY)
    history.clear()
    for (const h of histories) history.put(plain(h))
    await done
  }

  /** Forget everything but the outbox (sign-out keeps nothing: see clearAll). */
  async clearState(): Promise<void> {
    const tx = this.db.transaction([META, HISTORY], 'readwrite')
    const done = finished(tx)
    tx.objectStore(META).clear()
    tx.objectStore(HISTORY).clear()
    await done
  }

  async clearAll(): Promise<void> {
    const tx = this.db.transaction([META, HISTORY, OUTBOX], 'readwrite')
    const done = finished(tx)
    for (const name of [META, HISTORY, OUTBOX]) tx.objectStore(name).clear()
    await done
  }

  async outboxEntries(): Promise<OutboxEntry[]> {
    const tx = this.db.transaction(OUTBOX, 'readonly')
    const entries = (await promised(tx.objectStore(OUTBOX).getAll())) as OutboxEntry[]
    return entries.sort((a, b) => a.order - b.order)
  }

  async putOutbox(entry: OutboxEntry): Promise<void> {
    const tx = this.db.transaction(OUTBOX, 'readwrite')
    const done = finished(tx)
    tx.objectStore(OUTBOX).put(plain(entry))
    await done
  }

  async deleteOutbox(clientId: string): Promise<void> {
    const tx = this.db.transaction(OUTBOX, 'readwrite')
    const done = finished(tx)
    tx.objectStore(OUTBOX).delete(clientId)
    await done
  }
}

/** What the outbox needs from storage; ChatCache provides it, tests may fake it. */
export interface OutboxStorage {
  outboxEntries(): Promise<OutboxEntry[]>
  putOutbox(entry: OutboxEntry): Promise<void>
  deleteOutbox(clientId: string): Promise<void>
}
