// One WebSocket per tab: reconnects with exponential backoff and full jitter, correlates
// requests with replies (with timeouts), and hands every other frame to its owner. What
// to do after (re)connecting — `hello` with the last seq — belongs to the caller (onOpen).
import type { ReplyFrame, ServerFrame } from './types'

export class SocketError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message)
    this.name = 'SocketError'
  }

  /** Worth retrying on a new connection (versus a refusal by the server). */
  get transient(): boolean {
    return this.code === 'disconnected' || this.code === 'timeout'
  }
}

export type SocketStatus = 'idle' | 'connecting' | 'open' | 'closed'

/** The subset of WebSocket we use, so tests can pass a fake. */
export interface WebSocketLike {
  readyState: number
  onopen: ((ev: Event) => unknown) | null
  onclose: ((ev: CloseEvent) => unknown) | null
  onmessage: ((ev: MessageEvent) => unknown) | null
  onerror: ((ev: Event) => unknown) | null
  send(data: string): void
  close(code?: number, reason?: string): void
}

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

export interface SocketOptions {
  url: string
  /** Called on every new connection before anything else; typically sends hello. */
  onOpen: () => Promise<void>
  onFrame: (frame: ServerFrame) => void
  onStatus?: (status: SocketStatus) => void
  /** The server ended the session (close code 4001): do not reconnect. */
  onSessionEnded?: () => void
  createSocket?: (url: string) => WebSocketLike
  timers?: Timers
  random?: () => number
  baseDelayMs?: number
  maxDelayMs?: number
  requestTimeoutMs?: number
  heartbeatMs?: number
}

const OPEN = 1
export const SESSION_ENDED = 4001

/** Full jitter: a random delay up to an exponentially growing cap, never under 1/4 of base. */
export function backoffDelay(
  attempt: number,
  random: () => number,
  baseMs = 500,
  maxMs = 30_000,
): number {
  const cap = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 16))
  return Math.max(baseMs / 4, Math.round(random() * cap))
}

interface Pending {
  resolve: (data: unknown) => void
  reject: (error: SocketError) => void
  timer: unknown
}

export class ChatSocket {
  private socket: WebSocketLike | null = null
  private attempt = 0
  private retryTimer: unknown = null
  private heartbeatTimer: unknown = null
  private stopped = true
  private nextReq = 1
  private readonly pending = new Map<string, Pending>()
  private readonly timers: Timers
  private readonly random: () => number
  status: SocketStatus = 'idle'

  constructor(private readonly options: SocketOptions) {
    this.timers = options.timers ?? {
      setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
      clearTimeout: (h) => globalThis.clearTimeout(h as number),
    }
    this.random = options.random ?? Math.random
  }

  get isOpen(): boolean {
    return this.status === 'open'
  }

  start(): void {
    if (!this.stopped) return
    this.stopped = false
    this.connect()
  }

  stop(): void {
    this.stopped = true
    this.clearRetry()
    this.stopHeartbeat()
    const socket = this.socket
    this.socket = null
    if (socket) {
      socket.onclose = null
      socket.close(1000)
    }
    this.failPending('disconnected', 'The connection was closed.')
    this.setStatus('closed')
  }

  /** Reconnect now (e.g. the browser says we are back online). */
  reconnectNow(): void {
    if (this.stopped || this.status === 'open' || this.status === 'connecting') return
    this.clearRetry()
    this.attempt = 0
    this.connect()
  }

  /** Drop the current connection and reconnect, as if the network had failed. */
  restart(): void {
    if (this.stopped) return
    this.socket?.close(4000, 'restart')
  }

  /** Sends a frame and resolves with the reply's data, or rejects with a SocketError. */
  request<T>(frame: Record<string, unknown>, timeoutMs?: number): Promise<T> {
    const socket = this.socket
    if (!socket || socket.readyState !== OPEN) {
      return Promise.reject(new SocketError('disconnected', 'Not connected.'))
    }
    const req = String(this.nextReq++)
    return new Promise<T>((resolve, reject) => {
      const timer = this.timers.setTimeout(() => {
        this.pending.delete(req)
        reject(new SocketError('timeout', 'The server did not answer in time.'))
      }, timeoutMs ?? this.options.requestTimeoutMs ?? 15_000)
      this.pending.set(req, { resolve: resolve as (d: unknown) => void, reject, timer })
      socket.send(JSON.stringify({ ...frame, req }))
    })
  }

  /** Fire and forget (typing); false when not connected. */
  send(frame: Record<string, unknown>): boolean {
    if (!this.socket || this.socket.readyState !== OPEN || this.status !== 'open') return false
    this.socket.send(JSON.stringify(frame))
    return true
  }

  private connect(): void {
    this.setStatus('connecting')
    const create = this.options.createSocket ?? ((url: string) => new WebSocket(url))
    let socket: WebSocketLike
    try {
      socket = create(this.options.url)
    } catch {
      this.scheduleReconnect()
      return
    }
    this.socket = socket
    socket.onopen = () => {
      this.options
        .onOpen()
        .then(() => {
          if (this.socket !== socket) return
          this.attempt = 0
          this.setStatus('open')
          this.startHeartbeat()
        })
        .catch(() => socket.close(4000, 'hello failed'))
    }
    socket.onmessage = (ev: MessageEvent) => this.receive(String(ev.data))
    socket.onerror = () => undefined
    socket.onclose = (ev: CloseEvent) => {
      if (this.socket !== socket) return
      this.socket = null
      this.stopHeartbeat()
      this.failPending('disconnected', 'The connection was lost.')
      if (ev.code === SESSION_ENDED) {
        this.stopped = true
        this.setStatus('closed')
        this.options.onSessionEnded?.()
        return
      }
      this.scheduleReconnect()
    }
  }

  private receive(text: string): void {
    let frame: ServerFrame
    try {
      frame = JSON.parse(text) as ServerFrame
    } catch {
      return
    }
    if (typeof frame !== 'object' || frame === null || typeof frame.type !== 'string') return
    if (frame.type === 'reply') {
      this.settle(frame)
      return
    }
    this.options.onFrame(frame)
  }

  private settle(reply: ReplyFrame): void {
    if (reply.req === null) return
    const pending = this.pending.get(reply.req)
    if (!pending) return
    this.pending.delete(reply.req)
    this.timers.clearTimeout(pending.timer)
    if (reply.ok) pending.resolve(reply.data ?? {})
    else {
      const error = reply.error ?? { code: 'unknown', message: 'The server refused.' }
      pending.reject(new SocketError(error.code, error.message))
    }
  }

  private failPending(code: string, message: string): void {
    for (const [req, pending] of this.pending) {
      this.timers.clearTimeout(pending.timer)
      pending.reject(new SocketError(code, message))
      this.pending.delete(req)
    }
  }

  private scheduleReconnect(): void {
    if (this.stopped) return
    this.setStatus('closed')
    const delay = backoffDelay(
      this.attempt++,
      this.random,
      this.options.baseDelayMs,
      this.options.maxDelayMs,
    )
    this.retryTimer = this.timers.setTimeout(() => {
      this.retryTimer = null
      this.connect()
    }, delay)
  }

  private clearRetry(): void {
    if (this.retryTimer !== null) this.timers.clearTimeout(this.retryTimer)
    this.retryTimer = null
  }

  /** A ping that goes unanswered means a dead connection the browser has not noticed. */
  private startHeartbeat(): void {
    const every = this.options.heartbeatMs ?? 25_000
    this.stopHeartbeat()
    this.heartbeatTimer = this.timers.setTimeout(() => {
      this.request({ type: 'ping' }, 10_000)
        .then(() => this.startHeartbeat())
        .catch((error: SocketError) => {
          if (error.code === 'timeout') this.socket?.close(4000, 'heartbeat timeout')
        })
    }, every)
  }

  private stopHeartbeat(): void {
    if (this.heartbeatTimer !== null) this.timers.clearTimeout(this.heartbeatTimer)
    this.heartbeatTimer = null
  }

  private setStatus(status: SocketStatus): void {
    if (this.status === status) return
    this.status = status
    this.options.onStatus?.(status)
  }
}

export function socketUrl(location: Location): string {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:'
  return `${scheme}//${location.host}/api/ws`
}
