// The sending end of a transfer: streams a File over a data channel the receiver opened,
// from the offset the receiver asks for, never more than WINDOW bytes ahead of what it has
// written, and hashes the file once however many devices receive it or how often they resume.
import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex } from '@noble/hashes/utils.js'
import {
  BUFFER_HIGH,
  BUFFER_LOW,
  CHUNK,
  parseControl,
  READ,
  SpeedMeter,
  type Transfer,
  WINDOW,
} from './transfer'

/** One offered file; its hash grows as far as the furthest receiver has been sent. */
export class OutgoingFile {
  // Incremental (Web Crypto digests only a whole buffer; a file of several GB streams past).
  private readonly hasher = sha256.create()
  private hashedUpTo = 0
  private digest: string | null = null

  constructor(readonly file: File) {}

  feed(offset: number, bytes: Uint8Array): void {
    const end = offset + bytes.length
    if (end <= this.hashedUpTo || offset > this.hashedUpTo) return
    this.hasher.update(bytes.subarray(this.hashedUpTo - offset))
    this.hashedUpTo = end
  }

  /** The file's SHA-256, once every byte has been fed. */
  sha256(): string {
    if (this.digest === null) {
      if (this.hashedUpTo !== this.file.size) throw new Error('not fully hashed')
      this.digest = bytesToHex(this.hasher.digest())
    }
    return this.digest
  }
}

export class Sending {
  private channel: RTCDataChannel | null = null
  private generation = 0
  private acked = 0
  private pumped = false
  private waiters: (() => void)[] = []
  private readonly meter = new SpeedMeter()

  constructor(
    /** The reactive view (from the store), updated as the transfer goes. */
    private readonly view: Transfer,
    private readonly source: OutgoingFile,
    private readonly onFinish: () => void,
  ) {}

  /** A (new) channel from the receiver: the old one, if any, is done with. */
  attach(channel: RTCDataChannel): void {
    this.channel?.close()
    this.channel = channel
    channel.binaryType = 'arraybuffer'
    channel.bufferedAmountLowThreshold = BUFFER_LOW
    channel.onbufferedamountlow = () => this.poke()
    channel.onmessage = ({ data }) => {
      if (typeof data === 'string') this.control(channel, data)
    }
    channel.onclose = () => {
      this.poke()
      if (this.channel !== channel) return
      this.channel = null
      if (this.view.state === 'active' || this.view.state === 'verifying') this.view.state = 'interrupted'
    }
  }

  cancel(): void {
    this.generation++
    this.send({ cancel: true })
    this.channel?.close()
    this.poke()
  }

  private control(channel: RTCDataChannel, text: string): void {
    const msg = parseControl(text)
    if (!msg || channel !== this.channel) return
    if ('resume' in msg) {
      if (msg.resume > this.view.size) return this.fail('The receiver asked for bytes past the end.')
      if (this.pumped) {
        this.view.resumes++
        this.view.resumedFrom = msg.resume
      }
      this.pumped = true
      this.acked = msg.resume
      this.view.done = msg.resume
      this.view.state = 'active'
      this.meter.reset()
      this.poke() // an earlier pump sees its generation is over and stops
      void this.pump(channel, msg.resume)
    } else if ('ack' in msg) {
      if (msg.ack > this.view.size) return
      this.acked = Math.max(this.acked, msg.ack)
      this.view.done = this.acked
      this.view.speedAt = performance.now()
      this.view.speed = this.meter.add(this.view.speedAt, this.acked)
      this.poke()
    } else if ('verified' in msg) {
      this.view.state = msg.verified ? 'done' : 'failed'
      if (!msg.verified) this.view.error = 'The receiver found the file damaged.'
      channel.close()
      this.onFinish()
    } else if ('cancel' in msg) {
      this.view.state = 'cancelled'
      this.generation++
      channel.close()
      this.onFinish()
    }
  }

  private async pump(channel: RTCDataChannel, from: number): Promise<void> {
    const generation = ++this.generation
    const live = () => generation === this.generation && channel.readyState === 'open'
    const size = this.view.size
    let offset = from
    while (offset < size && live()) {
      const end = Math.min(offset + READ, size)
      const bytes = new Uint8Array(await this.source.file.slice(offset, end).arrayBuffer())
      this.source.feed(offset, bytes)
      for (let at = 0; at < bytes.length && live(); at += CHUNK) {
        while (live() && (offset + at - this.acked > WINDOW || channel.bufferedAmount > BUFFER_HIGH)) {
          await new Promise<void>((resolve) => this.waiters.push(resolve))
        }
        if (live()) channel.send(bytes.subarray(at, Math.min(at + CHUNK, bytes.length)))
      }
      offset = end
    }
    if (!live()) return
    this.view.sha256 = this.source.sha256()
    this.view.state = 'verifying'
    this.send({ done: size, sha256: this.view.sha256 })
  }

  private send(msg: object): void {
    if (this.channel?.readyState === 'open') this.channel.send(JSON.stringify(msg))
  }

  private poke(): void {
    const waiters = this.waiters
    this.waiters = []
    for (const wake of waiters) wake()
  }

  private fail(error: string): void {
    this.view.state = 'failed'
    this.view.error = error
    this.cancel()
    this.onFinish()
  }
}
