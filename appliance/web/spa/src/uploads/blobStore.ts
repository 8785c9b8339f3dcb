// Files of messages written offline wait here (IndexedDB keeps Blobs) until they are
// uploaded. A database of its own, so the chat cache's schema and its readers stay as they
// are; the outbox entry names its files by key.

import { finished, promised } from '@/persistence/idb'

export interface BlobStore {
  put(key: string, blob: Blob): Promise<void>
  get(key: string): Promise<Blob | undefined>
  delete(keys: string[]): Promise<void>
  /** Drops files no outbox entry names (the entry was sent, discarded or cleared at sign-out),
   * sparing those written in the last `graceMs`: another tab may be adding its entry now. */
  sweep(keep: Set<string>, graceMs?: number): Promise<void>
}

interface Stored {
  blob: Blob
  savedAt: number
}

const STORE = 'files'

export class IdbBlobStore implements BlobStore {
  private opened: Promise<IDBDatabase> | null = null

  constructor(
    private readonly name = 'pychat-files',
    private readonly factory: () => IDBFactory = () => indexedDB,
  ) {}

  private db(): Promise<IDBDatabase> {
    this.opened ??= new Promise<IDBDatabase>((resolve, reject) => {
      const request = this.factory().open(this.name, 1)
      request.onupgradeneeded = () => request.result.createObjectStore(STORE)
      request.onsuccess = () => resolve(request.result)
      request.onerror = () => reject(request.error)
    }).catch((error: unknown) => {
      this.opened = null
      throw error
    })
    return this.opened
  }

  async put(key: string, blob: Blob): Promise<void> {
    const tx = (await this.db()).transaction(STORE, 'readwrite')
    const done = finished(tx)
    tx.objectStore(STORE).put({ blob, savedAt: Date.now() } satisfies Stored, key)
    await done
  }

  async get(key: string): Promise<Blob | undefined> {
    const tx = (await this.db()).transaction(STORE, 'readonly')
    const stored = (await promised(tx.objectStore(STORE).get(key))) as Stored | undefined
    return stored?.blob
  }

  async delete(keys: string[]): Promise<void> {
    if (!keys.length) return
    const tx = (await this.db()).transaction(STORE, 'readwrite')
    const done = finished(tx)
    for (const key of keys) tx.objectStore(STORE).delete(key)
    await done
  }

  async sweep(keep: Set<string>, graceMs = 60_000): Promise<void> {
    const tx = (await this.db()).transaction(STORE, 'readwrite')
    const done = finished(tx)
    const now = Date.now()
    // A cursor, not getAll + await: the transaction must not go idle between the two.
    const cursor = tx.objectStore(STORE).openCursor()
    cursor.onsuccess = () => {
      const at = cursor.result
      if (!at) return
      const stored = at.value as Stored
      if (!keep.has(String(at.key)) && now - (stored.savedAt ?? 0) > graceMs) at.delete()
      at.continue()
    }
    await done
  }
}

/** For tests and browsers without IndexedDB: the files live as long as the page. */
export class MemoryBlobStore implements BlobStore {
  readonly files = new Map<string, Stored>()

  async put(key: string, blob: Blob): Promise<void> {
    this.files.set(key, { blob, savedAt: Date.now() })
  }

  async get(key: string): Promise<Blob | undefined> {
    return this.files.get(key)?.blob
  }

  async delete(keys: string[]): Promise<void> {
    for (const key of keys) this.files.delete(key)
  }

  async sweep(keep: Set<string>, graceMs = 60_000): Promise<void> {
    const now = Date.now()
    for (const [key, stored] of this.files) {
      if (!keep.has(key) && now - stored.savedAt > graceMs) this.files.delete(key)
    }
  }
}
