// Where a received file goes as it arrives: never held whole in memory. With the File System
// Access API (Chromium) the user picks the place first and chunks are written there; other
// browsers write into the origin-private file system (OPFS) and offer the finished file as
// a download of that disk-backed file.
import { testHooks } from './testHooks'

export interface FileSink {
  write(chunk: Uint8Array): Promise<void>
  /** Keeps what was written; an OPFS sink then offers a link to save it. */
  close(): Promise<{ downloadUrl: string | null }>
  /** Drops what was written: nothing of the file is left behind. */
  abort(): Promise<void>
}

interface SavePickerWindow {
  showSaveFilePicker?: (options: { suggestedName: string }) => Promise<FileSystemFileHandle>
}

const INCOMING = 'p2p-incoming'

/** Whether the user will be asked where to save (must start inside the click). */
export function asksWhereToSave(): boolean {
  return testHooks().sink !== 'opfs' && typeof (window as SavePickerWindow).showSaveFilePicker === 'function'
}

/** Opens the sink. Call it first thing in a click handler: the picker needs the gesture. */
export async function openSink(transferId: string, name: string): Promise<FileSink> {
  const picker = (window as SavePickerWindow).showSaveFilePicker
  if (asksWhereToSave() && picker) {
    const handle = await picker.call(window, { suggestedName: name })
    return writableSink(await handle.createWritable(), null)
  }
  const root = await navigator.storage.getDirectory()
  const dir = await root.getDirectoryHandle(INCOMING, { create: true })
  const entry = opfsName(transferId, name)
  const handle = await dir.getFileHandle(entry, { create: true })
  return writableSink(await handle.createWritable(), { dir, handle, entry, name })
}

/** Removes a received file kept in OPFS once the user has saved or dismissed it. */
export async function forgetReceived(transferId: string, name: string): Promise<void> {
  try {
    const root = await navigator.storage.getDirectory()
    const dir = await root.getDirectoryHandle(INCOMING)
    await dir.removeEntry(opfsName(transferId, name))
  } catch {
    // Already gone.
  }
}

function opfsName(transferId: string, name: string): string {
  return `${transferId}-${name.replace(/[^\w.\- ]+/g, '_').slice(0, 100)}`
}

interface OpfsPlace {
  dir: FileSystemDirectoryHandle
  handle: FileSystemFileHandle
  entry: string
  name: string
}

function writableSink(writable: FileSystemWritableFileStream, opfs: OpfsPlace | null): FileSink {
  let done = false
  return {
    async write(chunk) {
      await writable.write(chunk as Uint8Array<ArrayBuffer>)
    },
    async close() {
      done = true
      await writable.close()
      if (!opfs) return { downloadUrl: null }
      const file = await opfs.handle.getFile()
      return { downloadUrl: URL.createObjectURL(file) }
    },
    async abort() {
      if (done) return
      done = true
      await writable.abort().catch(() => undefined)
      if (opfs) await opfs.dir.removeEntry(opfs.entry).catch(() => undefined)
    },
  }
}
