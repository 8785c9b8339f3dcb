"""Bare aiohttp WebSocket broadcast server: the physical limit of this stack.

No auth, no rooms, no persistence unless --db is given. Speaks just enough of the Pychat
wire protocol for the benchmark clients: `hello` (reply with head), `ping` (pong) and
`message.send` (reply with the message, then one `message.new` event). The event is
json-encoded once and written to every socket's transport without awaiting each send.

  --mode fanout   every socket that said hello receives every event (one shared room)
  --mode ingest   only the sender receives the event (each sender in a room of its own)
  --db PATH       acknowledge only after a group commit (bench/bare_writer.py)
  --prefab        frame each event once (header and payload in one buffer) and write those
                  same bytes to every socket's transport: the strongest reference

Prints `Bare listening on http://HOST:PORT` when ready; SIGTERM/SIGINT stop it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any, cast

from aiohttp import WSMsgType, web

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bare_writer import GroupCommitWriter, message_dict


def send_nowait(ws: web.WebSocketResponse, data: bytes) -> None:
    """Write one text frame to the transport now; never wait for the socket to drain."""
    writer = ws._writer
    if writer is None or writer.transport is None or writer.transport.is_closing():
        return
    writer._write_websocket_frame(data, WSMsgType.TEXT, 0)


def text_frame(payload: bytes) -> bytes:
    """RFC 6455: one final unmasked text frame, header and payload in one buffer."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 1 << 16:
        return bytes((0x81, 126)) + n.to_bytes(2, "big") + payload
    return bytes((0x81, 127)) + n.to_bytes(8, "big") + payload


def write_prefab(ws: web.WebSocketResponse, frame: bytes) -> None:
    """The same framed bytes to this socket's transport: no per-socket framing at all."""
    writer = ws._writer
    transport = None if writer is None else writer.transport
    if transport is not None and not transport.is_closing():
        transport.write(frame)


class Hub:
    def __init__(self, mode: str, writer: GroupCommitWriter | None, prefab: bool = False) -> None:
        self.mode = mode
        self.writer = writer
        self.prefab = prefab
        self.socks: set[web.WebSocketResponse] = set()  # said hello: receive events
        self.all_socks: set[web.WebSocketResponse] = set()
        self.seq = 0
        self.next_id = 0
        self.next_user = 0
        self.tasks: set[asyncio.Task[None]] = set()

    def reply(self, ws: web.WebSocketResponse, req: Any, data: dict[str, Any]) -> None:
        send_nowait(
            ws, json.dumps({"type": "reply", "req": req, "ok": True, "data": data}).encode()
        )

    def error(self, ws: web.WebSocketResponse, req: Any, code: str, message: str) -> None:
        frame = {
            "type": "reply",
            "req": req,
            "ok": False,
            "error": {"code": code, "message": message},
        }
        send_nowait(ws, json.dumps(frame).encode())

    def publish(self, ws: web.WebSocketResponse, req: Any, seq: int, msg: dict[str, Any]) -> None:
        self.reply(ws, req, {"message": msg})
        event = {
            "type": "event",
            "seq": seq,
            "kind": "message.new",
            "room": msg["room"],
            "data": {"message": msg},
        }
        data = json.dumps(event).encode()
        socks = self.socks if self.mode == "fanout" else (ws,)
        if self.prefab:
            frame = text_frame(data)
            for sock in socks:
                write_prefab(sock, frame)
            return
        for sock in socks:
            send_nowait(sock, data)

    def send_memory(self, ws: web.WebSocketResponse, user: int, frame: dict[str, Any]) -> None:
        self.seq += 1
        self.next_id += 1
        now = int(time.time() * 1000)
        msg = message_dict(
            self.next_id, int(frame["room"]), user, str(frame["body"]), frame.get("client_id"), now
        )
        self.publish(ws, frame.get("req"), self.seq, msg)

    async def send_durable(
        self, ws: web.WebSocketResponse, user: int, frame: dict[str, Any]
    ) -> None:
        assert self.writer is not None
        now = int(time.time() * 1000)
        try:
            seq, msg = await self.writer.write(
                (int(frame["room"]), user, str(frame["body"]), frame.get("client_id"), now)
            )
        except Exception as exc:
            self.error(ws, frame.get("req"), "conflict", str(exc))
            return
        self.seq = max(self.seq, seq)
        self.publish(ws, frame.get("req"), seq, msg)


async def ws_handler(request: web.Request) -> web.WebSocketResponse:
    hub: Hub = request.app[HUB]
    ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=65536)
    await ws.prepare(request)
    hub.next_user += 1
    user = hub.next_user
    hub.all_socks.add(ws)
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            try:
                frame = json.loads(msg.data)
                kind = frame["type"]
            except (ValueError, KeyError, TypeError):
                hub.error(ws, None, "bad_request", "not a JSON frame with a type")
                continue
            if kind == "message.send":
                if hub.writer is None:
                    hub.send_memory(ws, user, frame)
                else:
                    task = asyncio.create_task(hub.send_durable(ws, user, frame))
                    hub.tasks.add(task)
                    task.add_done_callback(hub.tasks.discard)
            elif kind == "hello":
                hub.socks.add(ws)
                hub.reply(ws, frame.get("req"), {"head": hub.seq})
            elif kind == "ping":
                send_nowait(ws, b'{"type": "pong"}')
            else:
                hub.error(ws, frame.get("req"), "bad_request", f"unknown type {kind!r}")
    finally:
        hub.socks.discard(ws)
        hub.all_socks.discard(ws)
    return ws


HUB = web.AppKey("hub", Hub)


async def health(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def amain(args: argparse.Namespace) -> None:
    writer = GroupCommitWriter(Path(args.db), args.synchronous) if args.db else None
    app = web.Application()
    app[HUB] = Hub(args.mode, writer, args.prefab)
    app.router.add_get("/api/ws", ws_handler)
    app.router.add_get("/api/health", health)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    host, _, port = args.listen.rpartition(":")
    site = web.TCPSite(runner, host, int(port), backlog=4096)
    await site.start()
    server = cast(asyncio.Server, site._server)
    assert server is not None and server.sockets
    bound = server.sockets[0].getsockname()
    print(f"Bare listening on http://{bound[0]}:{bound[1]}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for ws in list(app[HUB].all_socks):
        await ws.close()
    await runner.cleanup()
    if writer is not None:
        writer.close()
        print(
            f"bare writer: {writer.rows} rows in {writer.batches} commits",
            file=sys.stderr,
            flush=True,
        )


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT (port 0 = any free port)")
    p.add_argument("--mode", choices=("fanout", "ingest"), default="fanout")
    p.add_argument("--db", default="", help="SQLite file for durable acks (group commit)")
    p.add_argument("--prefab", action="store_true", help="frame each event once for every socket")
    p.add_argument("--synchronous", default="FULL", choices=("FULL", "NORMAL", "EXTRA"))
    asyncio.run(amain(p.parse_args()))


if __name__ == "__main__":
    main()
