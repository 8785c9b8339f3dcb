"""The sd_notify protocol in pure Python, and the watchdog keepalive (docs/operations.md).

systemd starts `pychat serve` as `Type=notify`: the service counts as started only when the
process sends `READY=1` to the datagram socket named by `$NOTIFY_SOCKET`, which it must do
after every listener is up. With `WatchdogSec=` systemd also sets `$WATCHDOG_USEC` and kills
(then restarts) the service when no `WATCHDOG=1` arrives within that time.

    notify_ready("Serving on :443")          # after every site has started
    app.cleanup_ctx.insert(0, watchdog_keepalive())
    notify_stopping()                        # when SIGTERM arrives

Everything is a no-op when `$NOTIFY_SOCKET` is unset (a developer's `make run`, tests).
Sends never block the event loop: the socket is non-blocking and a full queue drops the
message (logged) instead of waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

log = logging.getLogger(__name__)

NOTIFY_SOCKET = "NOTIFY_SOCKET"
WATCHDOG_USEC = "WATCHDOG_USEC"
WATCHDOG_PID = "WATCHDOG_PID"

# sockaddr_un.sun_path is 108 bytes including the terminating NUL.
_MAX_PATH = 107


class Notifier:
    """Sends state lines to the service manager; does nothing without an address."""

    def __init__(self, address: str | None) -> None:
        self._address = _socket_address(address)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        env = os.environ if environ is None else environ
        return cls(env.get(NOTIFY_SOCKET))

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def send(self, *fields: tuple[str, str]) -> bool:
        """Send `KEY=VALUE` lines as one datagram. True if the manager got it."""
        if self._address is None or not fields:
            return False
        payload = "\n".join(f"{key}={_one_line(value)}" for key, value in fields)
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.setblocking(False)
                sock.sendto(payload.encode("utf-8"), self._address)
        except BlockingIOError:
            log.warning("systemd notify socket is full; dropped %s", fields[0][0])
            return False
        except OSError as e:
            log.warning("cannot notify systemd (%s): %s", fields[0][0], e.strerror or e)
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        return self.send(("READY", "1"), *_status(status))

    def status(self, text: str) -> bool:
        return self.send(("STATUS", text))

    def watchdog(self) -> bool:
        return self.send(("WATCHDOG", "1"))

    def stopping(self, status: str | None = None) -> bool:
        return self.send(("STOPPING", "1"), *_status(status))

    def extend_timeout(self, seconds: float) -> bool:
        """Ask for more start (or stop) time, e.g. before a long database migration."""
        return self.send(("EXTEND_TIMEOUT_USEC", str(max(1, int(seconds * 1_000_000)))))


def _status(text: str | None) -> tuple[tuple[str, str], ...]:
    return () if text is None else (("STATUS", text),)


def _one_line(value: str) -> str:
    # A newline would start a new assignment; keep each value on its line.
    return " ".join(value.splitlines())


def _socket_address(address: str | None) -> str | None:
    """`/path` or `@abstract` (as systemd writes it) → an AF_UNIX address, else None."""
    if not address:
        return None
    if address.startswith("@"):
        address = "\0" + address[1:]
    elif not address.startswith("/"):
        # e.g. vsock:CID:PORT (a VM's manager); the appliance never runs that way.
        log.warning("ignoring unsupported NOTIFY_SOCKET %r", address)
        return None
    if len(address.encode()) > _MAX_PATH:
        log.warning("ignoring NOTIFY_SOCKET: path too long")
        return None
    return address


def notify_ready(status: str | None = None, *, environ: Mapping[str, str] | None = None) -> bool:
    """`READY=1`: call once, after every listener is up (HTTPS, HTTP, TURN)."""
    return Notifier.from_environ(environ).ready(status)


def notify_status(text: str, *, environ: Mapping[str, str] | None = None) -> bool:
    """A one-line status shown by `systemctl status pychat`."""
    return Notifier.from_environ(environ).status(text)


def notify_watchdog(*, environ: Mapping[str, str] | None = None) -> bool:
    return Notifier.from_environ(environ).watchdog()


def notify_stopping(status: str | None = None, *, environ: Mapping[str, str] | None = None) -> bool:
    """`STOPPING=1`: shutdown has begun (SIGTERM received)."""
    return Notifier.from_environ(environ).stopping(status)


def watchdog_interval(
    environ: Mapping[str, str] | None = None, *, pid: int | None = None
) -> float | None:
    """Seconds between keepalives (half of `$WATCHDOG_USEC`), or None when not watched.

    As `sd_watchdog_enabled()`: `$WATCHDOG_PID`, when set, must be this process."""
    env = os.environ if environ is None else environ
    raw = env.get(WATCHDOG_USEC)
    if not raw:
        return None
    watched_pid = env.get(WATCHDOG_PID)
    if watched_pid and watched_pid != str(os.getpid() if pid is None else pid):
        return None
    try:
        usec = int(raw)
    except ValueError:
        log.warning("ignoring WATCHDOG_USEC=%r: not an integer", raw)
        return None
    if usec <= 0:
        return None
    return usec / 2 / 1_000_000


Healthy = Callable[[], bool]
CleanupCtx = Callable[[Any], AsyncIterator[None]]


def watchdog_keepalive(
    *,
    environ: Mapping[str, str] | None = None,
    notifier: Notifier | None = None,
    healthy: Healthy | None = None,
) -> CleanupCtx:
    """An aiohttp `cleanup_ctx` that sends `WATCHDOG=1` every half `$WATCHDOG_USEC`.

    The pings come from a task on the event loop itself, never from a thread: a loop that
    is stuck (a blocking call, a busy loop) sends nothing, and systemd restarts the server.
    `healthy`, if given, is asked before each ping; while it says False no ping is sent.
    Put it first in `cleanup_ctx` so that it also covers the start of the others."""

    async def ctx(app: Any) -> AsyncIterator[None]:
        interval = watchdog_interval(environ)
        sender = notifier if notifier is not None else Notifier.from_environ(environ)
        if interval is None or not sender.enabled:
            yield
            return
        task = asyncio.get_running_loop().create_task(
            _keepalive(sender, interval, healthy), name="systemd-watchdog"
        )
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return ctx


async def _keepalive(notifier: Notifier, interval: float, healthy: Healthy | None) -> None:
    loop = asyncio.get_running_loop()
    log.info("systemd watchdog: pinging every %.1f s", interval)
    due = loop.time()
    while True:
        now = loop.time()
        if now - due > interval / 2:
            # systemd gives up at 2 x interval without a ping: this was a near miss.
            log.warning("event loop was unresponsive for about %.1f s", interval + now - due)
        if healthy is None or _is_healthy(healthy):
            notifier.watchdog()
        else:
            log.warning("health check failed; not pinging the systemd watchdog")
        due = now + interval
        await asyncio.sleep(interval)


def _is_healthy(healthy: Healthy) -> bool:
    try:
        return bool(healthy())
    except Exception:
        log.exception("watchdog health check raised")
        return False
