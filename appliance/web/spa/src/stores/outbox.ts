import { defineStore } from 'pinia'
import { computed, reactive, ref } from 'vue'
import { SocketError } from '@/api/socket'
import type { Message, MessageId, RoomId } from '@/api/types'
import type { OutboxEntry, OutboxFile, OutboxStorage } from '@/persistence/cache'
import { defaultFileDeps, removeFile, uploadEntryFiles, type FileDeps } from '@/uploads/outboxFiles'

/** How a queued message reaches the server: message.send with its client_id. */
export type SendFn = (entry: OutboxEntry) => Promise<Message>

export interface OutboxDeps {
  storage: OutboxStorage | null
  send: SendFn
  /** Whether sending may be tried now (the socket is open and caught up). */
  canSend: () => boolean
  /** Told when the server stored a message of ours. */
  onSent: (message: Message) => void
  /** Waits before retrying after rate_limited. */
  sleep?: (ms: number) => Promise<void>
  /** Attachments: where their bytes wait and how they are uploaded (tests pass fakes). */
  files?: FileDeps
}

/** A file handed over by the composer: its bytes are kept until the server has them. */
export interface NewFile extends OutboxFile {
  blob?: Blob
}

const RATE_LIMIT_WAIT_MS = 1_000

export function newClientId(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID()
  const bytes = new Uint8Array(16)
  crypto.getRandomValues(bytes)
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
}

/**
 * Messages we wrote that the server has not confirmed. Each is written to IndexedDB before
 * the first try, sent in the order written, and retried with its original client_id until
 * the server answers, so it is stored exactly once however often the network drops.
 */
export const useOutboxStore = defineStore('outbox', () => {
  const entries = reactive<OutboxEntry[]>([])
  const draining = ref(false)
  let deps: OutboxDeps | null = null
  let fileDeps: FileDeps | null = null
  const files = (): FileDeps => (fileDeps ??= deps?.files ?? defaultFileDeps())
  let order = Date.now() * 1000

  function configure(next: OutboxDeps): void {
    deps = next
    fileDeps = null
  }

  /** Entries waiting in IndexedDB from an earlier visit or another tab. */
  async function restore(): Promise<void> {
    if (!deps?.storage) return
    const stored = await deps.storage.outboxEntries()
    for (const entry of stored) {
      if (entries.some((e) => e.client_id === entry.client_id)) continue
      // A try interrupted by a reload is simply pending again.
      entries.push({ ...entry, state: entry.state === 'failed' ? 'failed' : 'pending' })
      order = Math.max(order, entry.order)
    }
    entries.sort((a, b) => a.order - b.order)
    const keep = new Set(entries.flatMap((e) => (e.files ?? []).map((f) => f.key)))
    for (const entry of entries) for (const file of entry.files ?? []) if (!file.upload) files().adopt(file)
    // Bytes of messages sent, discarded or cleared at sign-out since.
    await files().blobs.sweep(keep).catch(() => undefined)
  }

  function forRoom(room: RoomId, thread: MessageId | null = null): OutboxEntry[] {
    return entries.filter((e) => e.room === room && e.thread === thread)
  }

  const pendingCount = computed(() => entries.filter((e) => e.state !== 'failed').length)

  async function add(
    room: RoomId,
    body: string,
    thread: MessageId | null = null,
    attached: NewFile[] = [],
  ): Promise<OutboxEntry> {
    const entry: OutboxEntry = {
      client_id: newClientId(),
      room,
      thread,
      body,
      created_at: Date.now(),
      order: ++order,
      state: 'pending',
      error: null,
    }
    if (attached.length) {
      entry.files = attached.map(({ blob: _bytes, ...file }) => file)
      // The bytes first: an entry never names a file IndexedDB does not hold.
      for (const file of attached) {
        if (file.blob && !file.upload) await files().blobs.put(file.key, file.blob).catch(() => undefined)
      }
    }
    // Shown only once IndexedDB holds it: what the UI calls "waiting to send" survives a
    // reload or a crash of the tab from that moment on.
    await persist(entry)
    entries.push(entry)
    void drain()
    return entries.find((e) => e.client_id === entry.client_id) ?? entry
  }

  async function persist(entry: OutboxEntry): Promise<void> {
    try {
      await deps?.storage?.putOutbox(entry)
    } catch {
      /* IndexedDB unavailable: the message still goes out from memory */
    }
  }

  /** The server has it (a reply, or our own message.new from any tab): forget it. */
  async function acknowledge(clientId: string): Promise<void> {
    const at = entries.findIndex((e) => e.client_id === clientId)
    const keys = (entries[at]?.files ?? []).map((f) => f.key)
    if (at >= 0) entries.splice(at, 1)
    if (keys.length) {
      for (const key of keys) files().release(key)
      await files().blobs.delete(keys).catch(() => undefined)
    }
    try {
      await deps?.storage?.deleteOutbox(clientId)
    } catch {
      /* nothing to undo */
    }
  }

  /** Sends every pending entry in order, one at a time; stops when the connection drops. */
  let running: Promise<void> | null = null
  function drain(): Promise<void> {
    if (running) return running
    running = sendPending().finally(() => {
      running = null
    })
    return running
  }

  async function sendPending(): Promise<void> {
    if (!deps) return
    const { send, canSend, onSent } = deps
    const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)))
    draining.value = true
    try {
      for (;;) {
        const next = entries.find((e) => e.state === 'pending')
        if (!next || !canSend()) break
        next.state = 'sending'
        try {
          if (next.files?.length) {
            const prepared = await uploadEntryFiles(next, files(), () => persist(next))
            if (prepared === 'later') {
              next.state = 'pending'
              break
            }
            if (prepared === 'empty') {
              await acknowledge(next.client_id) // every file was cancelled and there is no text
              continue
            }
            if (!entries.includes(next)) continue // discarded meanwhile
          }
          const message = await send({ ...next })
          onSent(message)
          await acknowledge(next.client_id)
        } catch (error) {
          const current = entries.find((e) => e.client_id === next.client_id)
          if (!current) continue
          if (error instanceof SocketError && error.transient) {
            current.state = 'pending'
            break
          }
          if (error instanceof SocketError && error.code === 'rate_limited') {
            current.state = 'pending'
            await sleep(RATE_LIMIT_WAIT_MS)
            continue
          }
          current.state = 'failed'
          current.error = error instanceof Error ? error.message : 'Not sent.'
          await persist(current)
        }
      }
    } finally {
      draining.value = false
    }
  }

  async function retry(clientId: string): Promise<void> {
    const entry = entries.find((e) => e.client_id === clientId)
    if (!entry) return
    entry.state = 'pending'
    entry.error = null
    await persist(entry)
    await drain()
  }

  async function discard(clientId: string): Promise<void> {
    await acknowledge(clientId)
  }

  /** Cancel one file of a queued message: the rest goes out without it. */
  async function cancelFile(clientId: string, key: string): Promise<void> {
    const entry = entries.find((e) => e.client_id === clientId)
    if (!entry) return
    removeFile(entry, key)
    files().release(key) // aborts its upload: a running drain then moves on
    await files().blobs.delete([key]).catch(() => undefined)
    if (entry.state !== 'sending' && entry.body.trim() === '' && !entry.files?.length) {
      await acknowledge(clientId)
      return
    }
    await persist(entry)
  }

  function reset(): void {
    entries.splice(0)
  }

  return {
    entries,
    draining,
    pendingCount,
    configure,
    restore,
    forRoom,
    add,
    acknowledge,
    drain,
    retry,
    discard,
    cancelFile,
    reset,
  }
})
