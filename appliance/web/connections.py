"""Connections: every socket the web server accepts is counted and timed before aiohttp sees it.

An attacker on the LAN can open thousands of connections that send half a request and never
finish it. Here, each accepted connection must finish its TLS handshake and its first request
head in time, one address may hold only so many, and all of them together stay well under the
file-descriptor limit. When that total is reached, a new connection pushes out the oldest one
that has not sent a request yet (from the address holding the most), so the people already
signed in, and `/api/health`, keep being served. Later requests on a kept-alive connection are
bounded by aiohttp's keep-alive timeout; upgraded WebSockets by their own heartbeat.

    guard = ConnectionGuard.from_settings(settings)        # inside the running loop
    runner = web.AppRunner(app, **runner_options(settings))
    await GuardedSite(runner, host, port, guard=guard).start()  # guarded_site.py
"""

from __future__ import annotations

import asyncio
import errno
import logging
import resource
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..config import Settings
from ..errors import AppError, RateLimited
from ..ratelimit import address_key as _address_of
from .connection_log import LOG_EVERY_S, RateLimitedLog

if TYPE_CHECKING:
    from .guarded_site import GuardedConnection

log = logging.getLogger(__name__)

# Descriptors kept out of the connection cap: the database and its WAL, uploads being
# written, image workers, logs, mDNS, listening sockets and anything else the process opens.
RESERVED_FDS = 512
# The listen backlog, which is also how many connections asyncio accepts in one go before a
# refused one's descriptor is closed: the cap leaves room for that burst on two sites.
BACKLOG = 4096
# The automatic cap never goes above this: a connection waiting for its request costs about
# 6 KiB of the server's memory (bench/connection_flood.py), so this many is ~100 MiB on a Pi.
AUTO_CEILING = 16384


def nofile_limit() -> int:
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def backlog_for(nofile: int) -> int:
    return max(128, min(BACKLOG, nofile // 8))


_RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout_s: float
    tls_handshake_timeout_s: float
    per_address: int
    total: int


def total_cap(settings: Settings, nofile: int | None = None) -> int:
    """`server.max_connections`, or when 0, three quarters of RLIMIT_NOFILE and never more
    than what is left once the rest of the process (TURN relay sockets, the accept bursts)
    has its share, nor more than AUTO_CEILING."""
    if settings.server.max_connections:
        return settings.server.max_connections
    if nofile is None:
        nofile = nofile_limit()
    turn = settings.turn
    turn_here = turn.external == "" and (
        turn.enabled == "on" or (turn.enabled == "auto" and settings.appliance_mode)
    )
    reserve = RESERVED_FDS + 2 * backlog_for(nofile) + (turn.max_allocations if turn_here else 0)
    return max(16, min(AUTO_CEILING, nofile * 3 // 4, nofile - reserve))


def runner_options(settings: Settings) -> dict[str, Any]:
    """AppRunner arguments: the keep-alive idle timeout, and how long requests in flight
    get at SIGTERM before they are cancelled (an upload's temp file goes with it)."""
    return {
        "keepalive_timeout": settings.server.keepalive_timeout_s,
        "shutdown_timeout": settings.server.shutdown_grace_s,
    }


def address_key(peer: Any) -> str:
    """Who a connection counts against: its IPv4 address, or its IPv6 /64 (one host can
    take any number of addresses in its own /64), as for every per-address limit."""
    if not isinstance(peer, tuple) or not peer:
        return ""
    return _address_of(str(peer[0]))


class ConnectionGuard:
    """The counts shared by every listening site of the process."""

    def __init__(self, limits: ConnectionLimits, *, log_every_s: float = LOG_EVERY_S) -> None:
        self.limits = limits
        self._open: dict[str, int] = {}
        # Connections that have not sent a complete first request, oldest first.
        self._waiting: dict[str, dict[GuardedConnection, None]] = {}
        self.count = 0
        self.refused = RateLimitedLog("connections refused over a cap", every_s=log_every_s)
        self.evicted = RateLimitedLog(
            "idle connections closed to admit new ones (connection cap reached)",
            every_s=log_every_s,
        )
        # Browsers open spare connections they may never use: closing those is routine.
        self.timed_out = RateLimitedLog(
            "connections closed without a complete request in time",
            every_s=log_every_s,
            level=logging.INFO,
        )
        self.accept_errors = RateLimitedLog(
            "accept() failed for lack of resources (file descriptors?)", every_s=log_every_s
        )

    @classmethod
    def from_settings(
        cls, settings: Settings, *, log_every_s: float = LOG_EVERY_S
    ) -> ConnectionGuard:
        server = settings.server
        guard = cls(
            ConnectionLimits(
                header_timeout_s=server.header_timeout_s,
                tls_handshake_timeout_s=server.tls_handshake_timeout_s,
                per_address=server.connections_per_ip,
                total=total_cap(settings),
            ),
            log_every_s=log_every_s,
        )
        guard.quiet_accept_errors(asyncio.get_running_loop())
        log.info(
            "connections: at most %d, %d per address; request head within %g s",
            guard.limits.total,
            guard.limits.per_address,
            guard.limits.header_timeout_s,
        )
        return guard

    def quiet_accept_errors(self, loop: asyncio.AbstractEventLoop) -> None:
        """asyncio logs a traceback for every failed accept() (thousands a second once the
        descriptors run out, and again for each retry it scheduled): count them instead."""
        previous = loop.get_exception_handler()

        def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
            exc = context.get("exception")
            message = str(context.get("message", ""))
            if (isinstance(exc, OSError) and exc.errno in _RESOURCE_ERRNOS) or (
                isinstance(exc, ValueError) and "_start_serving" in message
            ):
                name = errno.errorcode.get(getattr(exc, "errno", 0) or 0, "")
                self.accept_errors.note(name)
                return
            if previous is not None:
                previous(loop, context)
            else:
                loop.default_exception_handler(context)

        loop.set_exception_handler(handler)

    def admit(self, conn: GuardedConnection) -> AppError | None:
        """Count `conn` in, or say why it is refused."""
        key = conn.key
        if self._open.get(key, 0) >= self.limits.per_address:
            self.refused.note(key)
            return RateLimited(
                "Too many connections from your address: close some and try again.",
                retry_after_s=5,
            )
        if self.count >= self.limits.total and not self._evict_one():
            self.refused.note(key)
            return AppError(
                "The server is at its connection limit: try again shortly.",
                code="unavailable",
                status=503,
            )
        self._open[key] = self._open.get(key, 0) + 1
        self._waiting.setdefault(key, {})[conn] = None
        self.count += 1
        return None

    def _evict_one(self) -> bool:
        """Close the oldest connection without a request from the address holding most."""
        if not self._waiting:
            return False
        key = max(self._waiting, key=lambda k: self._open.get(k, 0))
        victim = next(iter(self._waiting[key]))
        self.evicted.note(key)
        victim.drop()  # releases its count at once
        return True

    def head_received(self, conn: GuardedConnection) -> None:
        waiting = self._waiting.get(conn.key)
        if waiting is not None:
            waiting.pop(conn, None)
            if not waiting:
                del self._waiting[conn.key]

    def release(self, conn: GuardedConnection) -> None:
        self.head_received(conn)
        left = self._open.get(conn.key, 0) - 1
        if left > 0:
            self._open[conn.key] = left
        else:
            self._open.pop(conn.key, None)
        self.count -= 1

    def close_waiting(self) -> None:
        """At shutdown: the connections that never sent a request (aiohttp closes the rest)."""
        for waiting in list(self._waiting.values()):
            for conn in list(waiting):
                conn.drop()

    def close(self) -> None:
        for line in (self.refused, self.evicted, self.timed_out, self.accept_errors):
            line.close()
