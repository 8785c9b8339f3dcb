// The two ends of a transfer joined by an in-memory stand-in for a pair of RTCDataChannels
// (the browser's API, not ours): the protocol, the window, the hash check and resume.
import { describe, expect, it } from 'vitest'
import type { FileSink } from './fileSink'
import type { Peer } from './peers'
import { Receiving } from './receiver'
import { OutgoingFile, Sending } from './sender'
import { type Transfer, WINDOW } from './transfer'

type Handler = ((event: { data: unknown }) => void) | null

/** One end of an ordered, reliable channel; what one end sends the other receives later. */
class MemoryChannel {
  readyState: RTCDataChannelState = 'connecting'
  binaryType = 'arraybuffer'
  bufferedAmount = 0
  bufferedAmountLowThreshold = 0
  onopen: (() => void) | null = null
  onmessage: Handler = null
  onclose: (() => void) | null = null
  onbufferedamountlow: (() => void) | null = null
  other!: MemoryChannel
  /** Bytes the sender side put in flight, for the window check. */
  binarySent = 0
  mangle: ((bytes: Uint8Array, at: number) => void) | null = null

  constructor(readonly label: string) {}

  send(data: string | ArrayBufferView): void {
    if (this.readyState !== 'open') throw new Error('not open')
    let payload: unknown = data
    if (typeof data !== 'string') {
      const copy = new Uint8Array(data.byteLength)
      copy.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
      this.mangle?.(copy, this.binarySent)
      this.binarySent += copy.length
      payload = copy.buffer
    }
    setTimeout(() => {
      if (this.other.readyState === 'open') this.other.onmessage?.({ data: payload })
    }, 0)
  }

  close(): void {
    for (const end of [this, this.other]) {
      if (end.readyState === 'closed') continue
      end.readyState = 'closed'
      setTimeout(() => end.onclose?.(), 0)
    }
  }
}

function view(size: number, direction: 'in' | 'out'): Transfer {
  return {
    key: 'k',
    id: 'transfer-1',
    direction,
    name: 'f.bin',
    size,
    mime: '',
    room: 1,
    peerUser: 2,
    remoteConn: 3,
    state: direction === 'in' ? 'active' : 'waiting',
    done: 0,
    speed: 0,
    speedAt: 0,
    sha256: null,
    error: null,
    downloadUrl: null,
    resumes: 0,
    resumedFrom: 0,
    saved: false,
  }
}

/** A sink that keeps bytes in memory and, when asked, writes slowly. */
class MemorySink implements FileSink {
  parts: Uint8Array[] = []
  state: 'open' | 'closed' | 'aborted' = 'open'
  constructor(private readonly delayMs = 0) {}
  async write(chunk: Uint8Array): Promise<void> {
    if (this.delayMs) await new Promise((resolve) => setTimeout(resolve, this.delayMs))
    this.parts.push(chunk.slice())
  }
  async close() {
    this.state = 'closed'
    return { downloadUrl: null }
  }
  async abort() {
    this.state = 'aborted'
    this.parts = []
  }
  bytes(): Uint8Array {
    const out = new Uint8Array(this.parts.reduce((n, p) => n + p.length, 0))
    let at = 0
    for (const p of this.parts) {
      out.set(p, at)
      at += p.length
    }
    return out
  }
}

/** The expected SHA-256, from Web Crypto (whole buffer), not from the code under test. */
async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes.slice()))
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('')
}

async function randomFile(size: number): Promise<{ file: File; sha: string }> {
  const data = new Uint8Array(size)
  for (let i = 0; i < size; i += 65536) crypto.getRandomValues(data.subarray(i, Math.min(i + 65536, size)))
  return { file: new File([data], 'f.bin'), sha: await sha256Hex(data) }
}

interface Run {
  incoming: Transfer
  outgoing: Transfer
  sink: MemorySink
  channels: MemoryChannel[]
  finished: Promise<void>
}

/** Wires a Receiving to a Sending: every channel the receiver opens reaches the sender. */
function connect(
  file: File,
  sink: MemorySink,
  options: { mangle?: MemoryChannel['mangle']; onChannel?: (c: MemoryChannel, n: number) => void } = {},
): Run {
  const incoming = view(file.size, 'in')
  const outgoing = view(file.size, 'out')
  const channels: MemoryChannel[] = []
  let done!: () => void
  const finished = new Promise<void>((resolve) => (done = resolve))
  let ends = 0
  const finish = () => ++ends === 2 && done()
  const sending = new Sending(outgoing, new OutgoingFile(file), finish)
  const peer = {
    openChannel(label: string) {
      const mine = new MemoryChannel(label)
      const theirs = new MemoryChannel(label)
      mine.other = theirs
      theirs.other = mine
      theirs.mangle = options.mangle ?? null
      channels.push(theirs)
      options.onChannel?.(theirs, channels.length)
      sending.attach(theirs as unknown as RTCDataChannel)
      setTimeout(() => {
        mine.readyState = theirs.readyState = 'open'
        mine.onopen?.()
      }, 0)
      return mine as unknown as RTCDataChannel
    },
  } as unknown as Peer
  const receiving = new Receiving(incoming, sink, async () => peer, async () => true, finish)
  receiving.start()
  return { incoming, outgoing, sink, channels, finished }
}

describe('a transfer between two ends', () => {
  it('delivers every byte in order, verified by SHA-256, both sides at 100 %', async () => {
    const { file, sha } = await randomFile(3 * 1024 * 1024 + 12345)
    const run = connect(file, new MemorySink())
    await run.finished
    expect(run.incoming.state).toBe('done')
    expect(run.outgoing.state).toBe('done')
    expect(run.incoming.sha256).toBe(sha)
    expect(run.outgoing.sha256).toBe(sha)
    expect(run.outgoing.done).toBe(file.size)
    expect(await sha256Hex(run.sink.bytes())).toBe(sha)
    expect(run.sink.state).toBe('closed')
  }, 30_000)

  it('never runs more than the window ahead of a slow disk', async () => {
    const { file } = await randomFile(16 * 1024 * 1024)
    const sink = new MemorySink(5)
    let worst = 0
    const run = connect(file, sink, {
      onChannel: (channel) => {
        const send = channel.send.bind(channel)
        channel.send = (data) => {
          send(data)
          const written = sink.parts.reduce((n, p) => n + p.length, 0)
          worst = Math.max(worst, channel.binarySent - written)
        }
      },
    })
    await run.finished
    expect(run.incoming.state).toBe('done')
    // The window, plus what was acknowledged but not yet counted here (one flush).
    expect(worst).toBeGreaterThan(WINDOW / 2) // it did run ahead, up to the window
    expect(worst).toBeLessThanOrEqual(WINDOW + 2 * 1024 * 1024)
  }, 30_000)

  it('discards a file whose bytes were changed on the way', async () => {
    const { file } = await randomFile(2 * 1024 * 1024)
    const run = connect(file, new MemorySink(), {
      mangle: (bytes, at) => {
        if (at === 0) bytes[100] = (bytes[100] as number) ^ 0xff
      },
    })
    await run.finished
    expect(run.incoming.state).toBe('failed')
    expect(run.incoming.error).toContain('SHA-256')
    expect(run.outgoing.state).toBe('failed')
    expect(run.sink.state).toBe('aborted')
    expect(run.sink.parts).toEqual([])
  })

  it('resumes on a new channel from the bytes written, and the hash still matches', async () => {
    const { file, sha } = await randomFile(6 * 1024 * 1024)
    // The receiver closes the channel once, after writing 2 MiB (the browser tests' switch).
    const hooks = globalThis as { __pychatTest?: object }
    hooks.__pychatTest = { breakAt: 2 * 1024 * 1024 }
    try {
      const run = connect(file, new MemorySink())
      await run.finished
      expect(run.channels).toHaveLength(2)
      expect(run.incoming.state).toBe('done')
      expect(run.incoming.resumes).toBe(1)
      expect(run.outgoing.resumes).toBe(1)
      expect(run.outgoing.resumedFrom).toBeGreaterThanOrEqual(2 * 1024 * 1024)
      expect(run.outgoing.resumedFrom).toBe(run.incoming.resumedFrom)
      expect(await sha256Hex(run.sink.bytes())).toBe(sha)
    } finally {
      delete hooks.__pychatTest
    }
  }, 30_000)
})
