"""The listening side: aiohttp's TCPSite with every accepted socket going through a
GuardedConnection, which the ConnectionGuard (connections.py) counts and times."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Callable

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from ..errors import AppError
from .connections import ConnectionGuard, address_key, backlog_for, nofile_limit


def _refusal_bytes(error: AppError) -> bytes:
    body = json.dumps(error.body()).encode()
    retry = getattr(error, "retry_after_s", 5)
    reason = "Too Many Requests" if error.status == 429 else "Service Unavailable"
    head = (
        f"HTTP/1.1 {error.status} {reason}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        f"Retry-After: {int(retry)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


class GuardedConnection(asyncio.Protocol):
    """Stands in front of aiohttp's RequestHandler for one connection: counts it, runs the
    TLS handshake under a timeout, closes it if its first request head is late, and passes
    everything else through."""

    def __init__(
        self,
        guard: ConnectionGuard,
        make_handler: Callable[[], RequestHandler],
        ssl_context: ssl.SSLContext | None,
    ) -> None:
        self._guard = guard
        self._make_handler = make_handler
        self._ssl_context = ssl_context
        self.key = ""
        self._counted = False
        self._lost = False
        self._transport: asyncio.Transport | None = None
        self._handler: RequestHandler | None = None
        self._early: list[bytes] = []  # bytes that arrived with the end of the handshake
        self._awaiting_head = True
        self._tail = b""
        self._timer: asyncio.TimerHandle | None = None
        self._tls_task: asyncio.Task[None] | None = None

    # -- asyncio.Protocol -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self.key = address_key(transport.get_extra_info("peername"))
        refusal = self._guard.admit(self)
        if refusal is not None:
            if self._ssl_context is None:
                transport.write(_refusal_bytes(refusal))  # cheap, and a browser shows it
                transport.close()
            else:
                transport.abort()  # no handshake spent on a refused connection
            return
        self._counted = True
        if self._ssl_context is None:
            self._attach(transport)
        else:
            transport.pause_reading()  # nothing before start_tls takes the transport over
            self._tls_task = asyncio.get_running_loop().create_task(self._start_tls(transport))

    def data_received(self, data: bytes) -> None:
        if self._awaiting_head:
            # Blank lines before a request line are allowed and do not count as a head.
            seen = self._tail + (data if self._tail else data.lstrip(b"\r\n"))
            if b"\r\n\r\n" in seen or b"\n\n" in seen:
                self._head_done()
            else:
                self._tail = seen[-3:]
        if self._handler is None:
            self._early.append(data)
        else:
            self._handler.data_received(data)

    def eof_received(self) -> bool | None:
        if self._handler is not None:
            self._handler.eof_received()
        return None  # as aiohttp: the transport closes once the peer stops sending

    def pause_writing(self) -> None:
        if self._handler is not None:
            self._handler.pause_writing()

    def resume_writing(self) -> None:
        if self._handler is not None:
            self._handler.resume_writing()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._lost = True
        self._release()
        if self._tls_task is not None and not self._tls_task.done():
            self._tls_task.cancel()
        if self._handler is not None:
            self._handler.connection_lost(exc)

    # -- the guard's side -------------------------------------------------------------

    def drop(self) -> None:
        """Close at once: evicted, timed out, or the server is stopping."""
        self._release()
        if self._tls_task is not None and not self._tls_task.done():
            self._tls_task.cancel()
        if self._transport is not None:
            self._transport.abort()

    def _release(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._counted:
            self._counted = False
            self._guard.release(self)

    def _head_done(self) -> None:
        self._awaiting_head = False
        self._tail = b""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._counted:
            self._guard.head_received(self)

    def _head_late(self) -> None:
        self._timer = None
        if self._awaiting_head and not self._lost:
            self._guard.timed_out.note(self.key)
            self.drop()

    def _attach(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        if self._awaiting_head:
            self._timer = asyncio.get_running_loop().call_later(
                self._guard.limits.header_timeout_s, self._head_late
            )
        handler = self._make_handler()
        self._handler = handler
        handler.connection_made(transport)
        early, self._early = self._early, []
        for data in early:
            handler.data_received(data)

    async def _start_tls(self, transport: asyncio.Transport) -> None:
        assert self._ssl_context is not None
        loop = asyncio.get_running_loop()
        try:
            if self._lost:
                return
            tls = await loop.start_tls(
                transport,
                self,
                self._ssl_context,
                server_side=True,
                ssl_handshake_timeout=self._guard.limits.tls_handshake_timeout_s,
            )
        except (OSError, ssl.SSLError, TimeoutError, ConnectionError, RuntimeError):
            # A failed or late handshake (asyncio closed the socket): nothing to log.
            self._lost = True
            self._release()
            return
        except asyncio.CancelledError:
            transport.abort()
            self._release()
            raise
        if tls is None or self._lost or not self._counted:  # gone during the handshake
            self._release()
            if tls is not None:
                tls.abort()
            return
        self._attach(tls)


class GuardedSite(web.TCPSite):
    """aiohttp's TCPSite, with every connection going through a GuardedConnection (TLS too:
    the handshake runs under the guard, so a connection counts from its first packet)."""

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str | None,
        port: int,
        *,
        guard: ConnectionGuard,
        ssl_context: ssl.SSLContext | None = None,
        backlog: int | None = None,
    ) -> None:
        if backlog is None:
            backlog = backlog_for(nofile_limit())
        super().__init__(runner, host, port, ssl_context=ssl_context, backlog=backlog)
        self._guard = guard

    async def start(self) -> None:
        await web.BaseSite.start(self)  # registers the site with its runner
        loop = asyncio.get_running_loop()
        server = self._runner.server
        assert server is not None
        guard, tls = self._guard, self._ssl_context
        self._server = await loop.create_server(
            lambda: GuardedConnection(guard, server, tls),
            self._host,
            self._port,
            backlog=self._backlog,
            reuse_address=self._reuse_address,
            reuse_port=self._reuse_port,
        )
        sockets = self._server.sockets
        self._bound_port = sockets[0].getsockname()[1] if sockets else self._port

    async def stop(self) -> None:
        self._guard.close_waiting()
        await super().stop()
