"""The WebSocket endpoint: one envelope, one command table, one error mapper."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from .. import replay, wire
from ..chat import messages
from ..connection import Connection
from ..db import CALLER
from ..errors import (
    AppError,
    BadRequest,
    NotFound,
    RateLimited,
    TooLarge,
    disk_full,
    internal_error_body,
)
from ..state.app_keys import SERVICES, WS_COMMANDS
from . import schemas as s
from .catch_up import heard_more
from .commands import Spec, only_if_asked
from .features import feature_commands
from .middleware import check_origin, client_address, require_session

if TYPE_CHECKING:
    from ..state.services import Services

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

CLOSE_WAIT_S = 1.0  # a socket closed by its own command: how long its close may take here
MAX_IN_FLIGHT = 64  # commands one socket may have running at once; more waits (backpressure)


async def _hello(svc: Services, conn: Connection, p: dict[str, Any]) -> dict[str, Any] | None:
    """Replay what the client missed, reply, then go live (replay.py: its guarantee)."""

    def reply(data: dict[str, Any]) -> bytes:
        data["conn"] = conn.id  # this socket's id, by which peers address it (rtc.*, paint.*)
        return wire.reply_ok(p.get("_req"), data)

    await replay.resume(svc.db, svc.hub, conn, p.get("since"), svc.settings.ws.replay_limit, reply)
    return None


async def _send(svc: Services, conn: Connection, p: dict[str, Any]) -> dict[str, Any]:
    message = await messages.send(
        svc,
        conn.user_id,
        p["room"],
        p["body"],
        p["client_id"],
        p.get("thread"),
        p.get("attachments"),
    )
    return {"message": message}


async def _edit(svc: Services, conn: Connection, p: dict[str, Any]) -> dict[str, Any]:
    return {"message": await messages.edit(svc, conn.user_id, p["message"], p["body"])}


async def _delete(svc: Services, conn: Connection, p: dict[str, Any]) -> dict[str, Any]:
    return {"message": await messages.delete(svc, conn.user_id, p["message"])}


async def _react(svc: Services, conn: Connection, p: dict[str, Any]) -> dict[str, Any]:
    await messages.react(svc, conn.user_id, p["message"], p["emoji"], p["on"])
    return {}


async def _read(svc: Services, conn: Connection, p: dict[str, Any]) -> dict[str, Any]:
    return {"message": await messages.mark_read(svc, conn.user_id, p["room"], p["message"])}


async def _unread(svc: Services, conn: Connection, p: dict[str, Any]) -> dict[str, Any]:
    return {"message": await messages.mark_unread(svc, conn.user_id, p["room"], p["message"])}


async def _thread_read(svc: Services, conn: Connection, p: dict[str, Any]) -> dict[str, Any]:
    return {"message": await messages.mark_thread_read(svc, conn.user_id, p["message"])}


async def _typing(svc: Services, conn: Connection, p: dict[str, Any]) -> dict[str, Any] | None:
    if not svc.hub.is_member(conn.user_id, p["room"]):
        raise NotFound("No such room.")
    if await svc.typing_limits.take(f"{conn.user_id}:{p['room']}") == 0:
        messages.typing(svc, conn.user_id, p["room"])
    return only_if_asked(p)


async def _ping(svc: Services, conn: Connection, p: dict[str, Any]) -> dict[str, Any] | None:
    conn.send(wire.frame({"type": "pong"}))
    return only_if_asked(p)


def _body(svc: Services) -> s.Field:
    # Over-long bodies get `too_large` from the action, not a schema error.
    return s.Field(s.text(svc.settings.limits.message_chars * 4 + 64))


def command_table(svc: Services) -> dict[str, Spec]:
    body = _body(svc)
    table = {
        "hello": Spec({"since": s.Field(s.SEQ.check, required=True, nullable=True)}, _hello, True),
        "message.send": Spec(
            {
                "room": s.ID,
                "body": body,
                "client_id": s.Field(s.text(64)),
                "thread": s.optional(s.ID, nullable=True),
                "attachments": s.optional(s.Field(s.id_list(20))),
            },
            _send,
        ),
        "message.edit": Spec({"message": s.ID, "body": body}, _edit),
        "message.delete": Spec({"message": s.ID}, _delete),
        "reaction.set": Spec({"message": s.ID, "emoji": s.Field(s.text(64)), "on": s.BOOL}, _react),
        "read.mark": Spec({"room": s.ID, "message": s.ID}, _read),
        "read.unmark": Spec({"room": s.ID, "message": s.ID}, _unread),
        "thread.read": Spec({"message": s.ID}, _thread_read),
        "typing": Spec({"room": s.ID}, _typing),
        "ping": Spec({}, _ping),
    }
    for name, spec in feature_commands(svc).items():
        assert name not in table, f"two features define {name}"
        table[name] = spec
    return table


def _error_body(e: BaseException) -> dict[str, Any]:
    if isinstance(e, AppError):
        return e.body()
    full = disk_full(e)
    if full is not None:
        log.warning("a websocket command was refused: the disk is full")  # not a bug
        return full.body()
    log.error("websocket command failed", exc_info=e)
    return internal_error_body()


class CommandLoop:
    """One socket's command loop: parse, validate, run, reply."""

    def __init__(self, svc: Services, conn: Connection, table: dict[str, Spec]) -> None:
        self.svc = svc
        self.conn = conn
        self.table = table
        self.slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        self.tasks: set[asyncio.Task[None]] = set()

    def _take_frame_token(self) -> bool:
        limits, conn = self.svc.settings.limits, self.conn
        now = self.svc.clock()
        if conn.frame_stamp == 0.0:
            conn.frame_tokens = float(limits.frames_burst)
        elapsed = max(0.0, now - conn.frame_stamp)
        conn.frame_tokens = min(
            float(limits.frames_burst), conn.frame_tokens + elapsed * limits.frames_per_second
        )
        conn.frame_stamp = now
        if conn.frame_tokens < 1.0:
            return False
        conn.frame_tokens -= 1.0
        return True

    async def handle(self, raw: str) -> None:
        req: str | None = None
        try:
            try:
                obj = wire.loads(raw)  # parsed even when too large, to answer its req
            except ValueError:
                raise BadRequest("A frame must be a JSON object of Unicode text.") from None
            if not isinstance(obj, dict):
                raise BadRequest("A frame must be a JSON object.")
            raw_req = obj.get("req")
            if raw_req is not None:
                if not isinstance(raw_req, str) or len(raw_req) > 64:
                    raise BadRequest("req must be a string of at most 64 characters.")
                req = raw_req
            limit = self.svc.settings.limits.frame_bytes
            if wire.utf8_length_over(raw, limit):
                raise TooLarge(f"A frame may have at most {limit} bytes.")
            if not self._take_frame_token():
                raise RateLimited("Too many frames on this connection; slow down.")
            kind = obj.get("type")
            spec = self.table.get(kind) if isinstance(kind, str) else None
            if spec is None:
                raise BadRequest("Unknown frame type.")
            params = s.validate(spec.fields, obj, ignore=frozenset({"type", "req"}))
        except AppError as e:
            self.conn.send(wire.reply_error(req, e.body()))
            return
        params["_req"] = req
        if spec.inline:
            await self._run(spec, params, req)
            return
        await self.slots.acquire()
        task = asyncio.create_task(self._run(spec, params, req))
        self.tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        self.slots.release()

    async def _run(self, spec: Spec, params: dict[str, Any], req: str | None) -> None:
        CALLER.set(self.conn)  # this task's writes: their events and reply leave as one
        try:
            try:
                data = await spec.run(self.svc, self.conn, params)
            except NotFound:
                if not await heard_more(self.svc.db):  # catch_up.py: perhaps not yet heard
                    raise
                data = await spec.run(self.svc, self.conn, params)
        except Exception as e:
            self.conn.send(wire.reply_error(req, _error_body(e)))
            return
        if data is not None:
            self.conn.send(wire.reply_ok(req, data))

    async def finish(self) -> None:
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)


@routes.get("/api/ws")
async def websocket(request: web.Request) -> web.StreamResponse:
    svc = request.app[SERVICES]
    check_origin(request)
    session = await require_session(request)
    address = client_address(request)
    limits = svc.settings.limits
    if svc.hub.connections_from(address) >= limits.ws_per_ip:
        raise RateLimited("Too many connections from this address.")
    if svc.hub.connections_of(session.user_id) >= limits.ws_per_user:
        raise RateLimited("Too many connections for this account; close some tabs.")
    ws = web.WebSocketResponse(
        heartbeat=svc.settings.ws.heartbeat_s,
        compress=False,  # permessage-deflate costs 3–3.5× CPU per delivery (issue 2)
        max_msg_size=limits.frame_bytes * 4,
    )
    await ws.prepare(request)
    transport = request.transport
    assert isinstance(transport, asyncio.Transport)
    conn = Connection(
        ws, transport, session.user_id, session.id, address, svc.settings.ws.send_buffer_bytes
    )
    svc.hub.register(conn)
    loop = CommandLoop(svc, conn, request.app[WS_COMMANDS])
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                await loop.handle(msg.data)
            elif msg.type == WSMsgType.BINARY:
                conn.send(wire.reply_error(None, BadRequest("Frames must be JSON text.").body()))
            if conn.closed:
                break
    finally:
        svc.hub.unregister(conn, svc.now_ms())
        await loop.finish()
        if conn.closing is not None:
            # Its close frame out first; then no longer than a moment (a client that stopped
            # reading never drains it: aiohttp's own close ends it).
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(conn.closing), CLOSE_WAIT_S)
    return ws
