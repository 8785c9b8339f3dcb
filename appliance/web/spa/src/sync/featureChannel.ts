import { ref } from 'vue'

/** A frame of a feature (`rtc.*`, `paint.*`, ...): not an event, not a chat frame. */
export interface FeatureFrame {
  type: string
  [key: string]: unknown
}

export type FrameListener = (frame: FeatureFrame) => void

export interface FrameTransport {
  send(frame: Record<string, unknown>): boolean
  request<T>(frame: Record<string, unknown>, timeoutMs?: number): Promise<T>
}

/**
 * The socket as features see it: send and request frames, hear the frames whose type starts
 * with a prefix, and learn when the socket is (again) ready, with this socket's id (`conn`),
 * so that calls and boards can re-announce themselves after a reconnect.
 */
export class FeatureChannel {
  /** This socket's id from the last hello; null while disconnected. */
  readonly connId = ref<number | null>(null)
  private transport: FrameTransport | null = null
  private readonly listeners = new Map<string, Set<FrameListener>>()
  private readonly readyListeners = new Set<(connId: number) => void>()
  private readonly lostListeners = new Set<() => void>()

  attach(transport: FrameTransport | null): void {
    this.transport = transport
  }

  send(frame: Record<string, unknown>): boolean {
    return this.transport?.send(frame) ?? false
  }

  request<T>(frame: Record<string, unknown>, timeoutMs?: number): Promise<T> {
    if (!this.transport) return Promise.reject(new Error('Not connected.'))
    return this.transport.request<T>(frame, timeoutMs)
  }

  /** Frames whose type starts with `prefix` (e.g. 'rtc.'); returns the unsubscribe. */
  on(prefix: string, listener: FrameListener): () => void {
    let set = this.listeners.get(prefix)
    if (!set) this.listeners.set(prefix, (set = new Set()))
    set.add(listener)
    return () => set.delete(listener)
  }

  /** Called after every successful hello (first connect and each reconnect). */
  onReady(listener: (connId: number) => void): () => void {
    this.readyListeners.add(listener)
    if (this.connId.value !== null) listener(this.connId.value)
    return () => this.readyListeners.delete(listener)
  }

  /** Called when the socket drops. */
  onLost(listener: () => void): () => void {
    this.lostListeners.add(listener)
    return () => this.lostListeners.delete(listener)
  }

  dispatch(frame: FeatureFrame): void {
    for (const [prefix, set] of this.listeners) {
      if (!frame.type.startsWith(prefix)) continue
      for (const listener of [...set]) listener(frame)
    }
  }

  ready(connId: number): void {
    this.connId.value = connId
    for (const listener of [...this.readyListeners]) listener(connId)
  }

  lost(): void {
    if (this.connId.value === null) return
    this.connId.value = null
    for (const listener of [...this.lostListeners]) listener()
  }
}
