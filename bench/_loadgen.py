"""Load-generator processes: a minimal WebSocket client on asyncio.Protocol (uvloop if present).

Each worker process owns some sockets and obeys commands sent over a multiprocessing pipe
(one reply per command). By default receivers never JSON-decode deliveries: they find the
send time embedded in the message body (`~T<monotonic ns>~`), so a client process costs far
less CPU per delivery than the server it measures. With `decode` they parse every frame as
a real client does (`json.loads`, then the body's mark), which costs the clients CPU the
server competes with on a small machine. CLOCK_MONOTONIC is system-wide on Linux, so send
and receive times compare across processes.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import os
import struct
import time
from array import array
from collections import Counter
from multiprocessing.connection import Connection
from typing import Any

from _common import raise_nofile

MARK = b"~T"
REPLY = b'"reply"'
PONG = b'"pong"'


class WSClient(asyncio.Protocol):
    """One WebSocket; parses server frames by hand (no masking, no extensions)."""

    def __init__(self, worker: Worker, idx: int, cookie: str | None) -> None:
        self.w = worker
        self.idx = idx
        self.cookie = cookie
        self.transport: Any = None  # asyncio's or uvloop's (no subclass of asyncio's)
        self.handshaken = False
        self.buf = b""
        self.frag = b""
        self.ready: asyncio.Future[None] = worker.loop.create_future()
        self.hello: asyncio.Future[dict[str, Any]] = worker.loop.create_future()
        self.pending: dict[str, int] = {}
        self.nreq = 0
        self.waiter: asyncio.Future[None] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            "GET /api/ws HTTP/1.1",
            f"Host: {self.w.host}:{self.w.port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
        if self.cookie:
            lines.append(f"Cookie: pychat_session={self.cookie}")
        self.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode())

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed:
            self.closed = True
            self.w.closed += 1
        for fut in (self.ready, self.hello):
            if not fut.done():
                fut.set_exception(ConnectionError(f"closed before ready: {exc}"))
                fut.exception()  # mark retrieved: nobody may be waiting any more
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic_ns()
        buf = self.buf + data if self.buf else data
        if not self.handshaken:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.buf = buf
                return
            head = buf[:end].decode(errors="replace")
            if not head.startswith("HTTP/1.1 101"):
                if not self.ready.done():
                    self.ready.set_exception(
                        ConnectionError(
                            head.split("\r\n")[0]
                            + " "
                            + buf[end + 4 :][:200].decode(errors="replace")
                        )
                    )
                self.buf = b""
                assert self.transport is not None
                self.transport.close()
                return
            self.handshaken = True
            buf = buf[end + 4 :]
            if not self.ready.done():
                self.ready.set_result(None)
        pos, n = 0, len(buf)
        on_text = self.w.on_text
        while n - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            ln, hl = b1 & 0x7F, 2
            if ln == 126:
                if n - pos < 4:
                    break
                ln, hl = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
            elif ln == 127:
                if n - pos < 10:
                    break
                ln, hl = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            end = pos + hl + ln
            if end > n:
                break
            payload = buf[pos + hl : end]
            pos = end
            op = b0 & 0x0F
            if op in (1, 2, 0):
                if not b0 & 0x80:  # fragmented: keep until FIN
                    self.frag += payload
                    continue
                if self.frag:
                    payload, self.frag = self.frag + payload, b""
                on_text(self, payload, now)
            elif op == 9:
                self._send(0x8A, payload)
            elif op == 8:
                self.w.close_codes[int.from_bytes(payload[:2], "big") if payload else 1005] += 1
                self._send(0x88, payload[:2])
                assert self.transport is not None
                self.transport.close()
        self.buf = buf[pos:] if pos < n else b""

    def _send(self, first: int, data: bytes) -> None:
        n = len(data)
        if n < 126:
            hdr = bytes((first, 0x80 | n))
        elif n < 65536:
            hdr = struct.pack("!BBH", first, 0xFE, n)
        else:
            hdr = struct.pack("!BBQ", first, 0xFF, n)
        # An all-zero masking key is valid framing and makes masking the identity.
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(hdr + b"\0\0\0\0" + data)

    def send_json(self, obj: dict[str, Any]) -> None:
        self._send(0x81, json.dumps(obj).encode())

    def send_message(self, room: int, pad: str) -> None:
        self.nreq += 1
        req = str(self.nreq)
        t = time.monotonic_ns()
        self.pending[req] = t
        self.w.sends += 1
        body = f"~T{t}~ {pad}"
        cid = f"{self.w.run}-{self.idx}-{req}"
        self.send_json(
            {"type": "message.send", "room": room, "body": body, "client_id": cid, "req": req}
        )


class Worker:
    def __init__(
        self, conn: Connection, wid: int, host: str, port: int, decode: bool = False
    ) -> None:
        self.conn = conn
        self.wid = wid
        self.host = host
        self.port = port
        self.loop = asyncio.get_running_loop()
        self.run = f"{os.getpid()}x{int(time.time())}"
        self.socks: dict[int, WSClient] = {}
        self.tasks: list[asyncio.Task[None]] = []
        self.stopping = False
        self.done: asyncio.Future[None] = self.loop.create_future()
        self.close_codes: Counter[int] = Counter()
        self.closed = 0
        if decode:
            self.on_text = self.on_text_decoded  # type: ignore[method-assign]
        self.reset()

    def reset(self) -> dict[str, Any]:
        self.lat = array("q")
        self.ack_lat = array("q")
        self.deliveries = self.acks = self.sends = self.other = self.pongs = 0
        self.errors: Counter[str] = Counter()
        return {}

    # --- frames -------------------------------------------------------------------------
    def on_text(self, sock: WSClient, payload: bytes, now: int) -> None:
        if REPLY in payload:
            self.on_reply(sock, payload, now)
            return
        i = payload.find(MARK)
        if i >= 0:
            j = payload.find(b"~", i + 2)
            self.lat.append((now - int(payload[i + 2 : j])) // 1000)
            self.deliveries += 1
        elif PONG in payload:
            self.pongs += 1
        else:
            self.other += 1

    def on_text_decoded(self, sock: WSClient, payload: bytes, now: int) -> None:
        """As a browser does: every frame parsed whole, the timestamp read from the body."""
        frame = json.loads(payload)
        kind = frame.get("type")
        if kind == "reply":
            self.on_reply(sock, payload, now, frame)
            return
        body = ((frame.get("data") or {}).get("message") or {}).get("body")
        if kind == "event" and isinstance(body, str) and body.startswith("~T"):
            self.lat.append((now - int(body[2 : body.index("~", 2)])) // 1000)
            self.deliveries += 1
        elif kind == "pong":
            self.pongs += 1
        else:
            self.other += 1

    def on_reply(
        self, sock: WSClient, payload: bytes, now: int, frame: dict[str, Any] | None = None
    ) -> None:
        if frame is None:
            frame = json.loads(payload)
        req: Any = frame.get("req")
        if req == "h":
            if not sock.hello.done():
                sock.hello.set_result(frame)
            return
        t = sock.pending.pop(req, None)
        if frame.get("ok"):
            if t is not None:
                self.ack_lat.append((now - t) // 1000)
            self.acks += 1
        else:
            self.errors[str((frame.get("error") or {}).get("code"))] += 1
        if sock.waiter is not None and not sock.waiter.done():
            sock.waiter.set_result(None)

    # --- commands -----------------------------------------------------------------------
    async def connect(
        self, specs: list[tuple[int, str | None]], concurrency: int = 64
    ) -> dict[str, Any]:
        sem = asyncio.Semaphore(concurrency)
        errors: Counter[str] = Counter()
        t0 = time.monotonic()

        async def one(idx: int, cookie: str | None) -> None:
            async with sem:
                sock = WSClient(self, idx, cookie)
                try:
                    await self.loop.create_connection(lambda: sock, self.host, self.port)
                    await asyncio.wait_for(sock.ready, 30)
                    sock.send_json({"type": "hello", "since": None, "req": "h"})
                    reply = await asyncio.wait_for(sock.hello, 60)
                    if not reply.get("ok"):
                        raise ConnectionError(f"hello refused: {reply}")
                    self.socks[idx] = sock
                except Exception as exc:
                    errors[f"{type(exc).__name__}: {exc}"[:200]] += 1
                    if sock.transport is not None:
                        sock.transport.close()

        await asyncio.gather(*(one(i, c) for i, c in specs))
        return {
            "ok": sum(1 for i, _ in specs if i in self.socks),
            "failed": sum(errors.values()),
            "errors": errors.most_common(5),
            "secs": time.monotonic() - t0,
        }

    async def ping_all(self, timeout: float = 30.0) -> dict[str, Any]:
        self.pongs = 0
        live = [s for s in self.socks.values() if not s.closed]
        for s in live:
            s.send_json({"type": "ping"})
        deadline = time.monotonic() + timeout
        while self.pongs < len(live) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return {"open": len(live), "pongs": self.pongs}

    async def close_from(self, first: int) -> dict[str, Any]:
        for idx in [i for i in self.socks if i >= first]:
            sock = self.socks.pop(idx)
            sock.closed = True
            if sock.transport is not None:
                sock.transport.close()
        await asyncio.sleep(0.2)
        return {"open": sum(1 for s in self.socks.values() if not s.closed)}

    def mark(self) -> dict[str, Any]:
        return {
            "deliveries": self.deliveries,
            "acks": self.acks,
            "sends": self.sends,
            "cpu": time.process_time(),
            "t": time.monotonic(),
        }

    def start_rate(
        self, senders: list[tuple[int, float, int]], rate: float, duration: float, pad: str
    ) -> dict[str, Any]:
        """Open loop: each (socket, start offset s, room) sends `rate` msg/s for `duration`."""
        self.stopping = False
        t0 = self.loop.time()
        for idx, offset, room in senders:
            self.tasks.append(
                self.loop.create_task(
                    self._rate(self.socks[idx], rate, t0 + offset, t0 + duration, room, pad)
                )
            )
        return {"senders": len(senders)}

    async def _rate(
        self, sock: WSClient, rate: float, start: float, end: float, room: int, pad: str
    ) -> None:
        nxt, interval = start, 1.0 / rate
        while not self.stopping and not sock.closed and nxt < end:
            delay = nxt - self.loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            sock.send_message(room, pad)
            nxt += interval

    def start_window(
        self, senders: list[tuple[int, int]], window: int, duration: float, pad: str
    ) -> dict[str, Any]:
        """Closed loop: each (socket, room) keeps `window` sends in flight for `duration`."""
        self.stopping = False
        end = self.loop.time() + duration
        for idx, room in senders:
            self.tasks.append(
                self.loop.create_task(self._window(self.socks[idx], window, end, room, pad))
            )
        return {"senders": len(senders)}

    async def _window(self, sock: WSClient, window: int, end: float, room: int, pad: str) -> None:
        while not self.stopping and not sock.closed and self.loop.time() < end:
            while len(sock.pending) < window:
                sock.send_message(room, pad)
            sock.waiter = self.loop.create_future()
            try:
                await asyncio.wait_for(sock.waiter, 30)
            except TimeoutError:
                self.errors["ack_timeout_30s"] += 1
                return

    async def stop_senders(self) -> dict[str, Any]:
        self.stopping = True
        for s in self.socks.values():
            if s.waiter is not None and not s.waiter.done():
                s.waiter.set_result(None)
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks.clear()
        return {"sends": self.sends}

    def collect(self) -> dict[str, Any]:
        unacked = sum(len(s.pending) for s in self.socks.values())
        return {
            "lat": self.lat,
            "ack_lat": self.ack_lat,
            "deliveries": self.deliveries,
            "acks": self.acks,
            "sends": self.sends,
            "errors": dict(self.errors),
            "other": self.other,
            "unacked": unacked,
            "closed": self.closed,
            "close_codes": dict(self.close_codes),
            "open": sum(1 for s in self.socks.values() if not s.closed),
        }

    async def quit(self) -> dict[str, Any]:
        await self.close_from(-1)
        if not self.done.done():
            self.done.set_result(None)
        return {}

    # --- plumbing -----------------------------------------------------------------------
    def _on_pipe(self) -> None:
        os.set_blocking(self.conn.fileno(), True)  # uvloop's add_reader made it non-blocking
        try:
            cmd, kwargs = self.conn.recv()
        except EOFError:
            self.loop.remove_reader(self.conn.fileno())
            if not self.done.done():
                self.done.set_result(None)
            return
        self.loop.create_task(self._dispatch(cmd, kwargs))

    async def _dispatch(self, cmd: str, kwargs: dict[str, Any]) -> None:
        try:
            res = getattr(self, cmd)(**kwargs)
            if asyncio.iscoroutine(res):
                res = await res
        except Exception as exc:
            res = {"exception": f"{type(exc).__name__}: {exc}"}
        os.set_blocking(self.conn.fileno(), True)
        self.conn.send(res)

    async def main(self) -> None:
        self.loop.add_reader(self.conn.fileno(), self._on_pipe)
        await self.done


def worker_main(
    conn: Connection,
    wid: int,
    host: str,
    port: int,
    use_uvloop: bool = True,
    decode: bool = False,
) -> None:
    raise_nofile()

    async def amain() -> None:
        gc.freeze()
        await Worker(conn, wid, host, port, decode).main()

    if use_uvloop:
        try:
            import uvloop

            uvloop.run(amain())
            return
        except ImportError:
            pass
    asyncio.run(amain())
