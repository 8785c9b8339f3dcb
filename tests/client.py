"""A test client that speaks the wire contract over real HTTP and WebSocket."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import uuid
from collections.abc import Callable
from typing import Any

import aiohttp

JSON = {"Content-Type": "application/json"}
WAIT = 10.0  # seconds any single expected frame may take before the test fails


class Client:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.user: dict[str, Any] = {}
        self.sockets: list[Socket] = []

    @property
    def id(self) -> int:
        return int(self.user["id"])

    async def close(self) -> None:
        for sock in self.sockets:
            await sock.close()
        await self.http.close()

    async def call(self, method: str, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        headers = dict(kw.pop("headers", {}))
        data = None
        if body is not None or method in ("POST", "PATCH", "PUT"):
            headers.setdefault("Content-Type", "application/json")
            data = json.dumps(body if body is not None else {})
        async with self.http.request(
            method, self.base_url + path, data=data, headers=headers, **kw
        ) as resp:
            text = await resp.text()
            payload = json.loads(text) if text and resp.content_type == "application/json" else text
            return resp.status, payload

    async def get(self, path: str, **kw: Any) -> Any:
        status, payload = await self.call("GET", path, **kw)
        assert status == 200, (status, payload)
        return payload

    async def post(self, path: str, body: Any = None, expect: int = 200) -> Any:
        status, payload = await self.call("POST", path, body)
        assert status == expect, (status, payload)
        return payload

    async def login(self, username: str, password: str) -> Client:
        payload = await self.post("/api/auth/login", {"username": username, "password": password})
        self.user = payload["user"]
        return self

    async def connect(self, since: int | None = None, **kw: Any) -> Socket:
        ws = await self.http.ws_connect(self.base_url + "/api/ws", **kw)
        sock = Socket(ws)
        self.sockets.append(sock)
        sock.hello_reply = await sock.request({"type": "hello", "since": since})
        return sock


class Socket:
    """A WebSocket with a reader task sorting frames into replies, events and the rest."""

    _reqs = itertools.count(1)

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []
        self.replies: dict[str | None, asyncio.Future[dict[str, Any]]] = {}
        self.changed = asyncio.Condition()
        self.hello_reply: dict[str, Any] = {}
        self.closed = asyncio.Event()
        self.close_code: int | None = None
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for msg in self.ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                frame = json.loads(msg.data)
                if frame.get("type") == "reply" and frame.get("req") in self.replies:
                    fut = self.replies.pop(frame["req"])
                    if not fut.done():
                        fut.set_result(frame)
                else:
                    async with self.changed:
                        self.frames.append(frame)
                        self.changed.notify_all()
        finally:
            self.close_code = self.ws.close_code
            self.closed.set()
            async with self.changed:
                self.changed.notify_all()

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send_str(json.dumps(frame))

    async def request(self, frame: dict[str, Any], timeout: float = WAIT) -> dict[str, Any]:
        req = f"r{next(self._reqs)}"
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.replies[req] = fut
        await self.send({**frame, "req": req})
        return await asyncio.wait_for(fut, timeout)

    async def ok(self, frame: dict[str, Any]) -> dict[str, Any]:
        reply = await self.request(frame)
        assert reply["ok"], reply
        return reply["data"]  # type: ignore[no-any-return]

    async def error(self, frame: dict[str, Any]) -> dict[str, Any]:
        reply = await self.request(frame)
        assert not reply["ok"], reply
        return reply["error"]  # type: ignore[no-any-return]

    async def send_message(self, room: int, body: str, **extra: Any) -> dict[str, Any]:
        frame = {
            "type": "message.send",
            "room": room,
            "body": body,
            "client_id": extra.pop("client_id", uuid.uuid4().hex),
            **extra,
        }
        return (await self.ok(frame))["message"]  # type: ignore[no-any-return]

    async def wait_for(self, predicate: Any, timeout: float = WAIT) -> dict[str, Any]:
        """The first frame (seen so far or arriving) matching `predicate`; consumed."""

        async def find() -> dict[str, Any]:
            async with self.changed:
                while True:
                    for i, frame in enumerate(self.frames):
                        if predicate(frame):
                            return self.frames.pop(i)
                    if self.closed.is_set():
                        raise ConnectionError(f"socket closed ({self.close_code})")
                    await self.changed.wait()

        return await asyncio.wait_for(find(), timeout)

    async def until(self, done: Callable[[], bool], timeout: float = WAIT) -> None:
        """Wait, consuming nothing, until `done()` holds for what the socket has seen (it is
        asked again at every frame)."""

        async def check() -> None:
            async with self.changed:
                while not done():
                    if self.closed.is_set():
                        raise ConnectionError(f"socket closed ({self.close_code})")
                    await self.changed.wait()

        await asyncio.wait_for(check(), timeout)

    async def event(self, kind: str, timeout: float = WAIT, **match: Any) -> dict[str, Any]:
        def wanted(f: dict[str, Any]) -> bool:
            return (
                f.get("type") == "event"
                and f.get("kind") == kind
                and all(f.get(k) == v for k, v in match.items())
            )

        return await self.wait_for(wanted, timeout)

    def events(self) -> list[dict[str, Any]]:
        return [f for f in self.frames if f.get("type") == "event"]

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader
