"""appliance/system/systemd.py: sd_notify over a real AF_UNIX datagram socket, and the watchdog."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web
from blockbuster import blockbuster_ctx

from appliance.system import systemd
from appliance.system.systemd import Notifier, watchdog_interval, watchdog_keepalive


@pytest.fixture
def manager_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """What systemd listens on: a datagram socket; yields it and its $NOTIFY_SOCKET."""
    path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(5)
    yield sock, str(path)
    sock.close()


def received(sock: socket.socket) -> str:
    return sock.recv(4096).decode()


def pending(sock: socket.socket) -> list[str]:
    """Every datagram already queued, without waiting."""
    out = []
    sock.setblocking(False)
    try:
        while True:
            out.append(sock.recv(4096).decode())
    except BlockingIOError:
        return out
    finally:
        sock.settimeout(5)


def test_ready_status_watchdog_stopping_arrive_as_systemd_expects(
    manager_socket: tuple[socket.socket, str],
) -> None:
    sock, address = manager_socket
    env = {"NOTIFY_SOCKET": address}
    assert systemd.notify_ready("Serving on :443", environ=env)
    assert received(sock) == "READY=1\nSTATUS=Serving on :443"
    assert systemd.notify_status("3 users online", environ=env)
    assert received(sock) == "STATUS=3 users online"
    assert systemd.notify_watchdog(environ=env)
    assert received(sock) == "WATCHDOG=1"
    assert systemd.notify_stopping(environ=env)
    assert received(sock) == "STOPPING=1"
    assert Notifier(address).extend_timeout(90)
    assert received(sock) == "EXTEND_TIMEOUT_USEC=90000000"


def test_a_value_cannot_smuggle_in_another_assignment(
    manager_socket: tuple[socket.socket, str],
) -> None:
    sock, address = manager_socket
    assert Notifier(address).status("line one\nREADY=1")
    assert received(sock) == "STATUS=line one READY=1"


def test_abstract_socket_addresses_work() -> None:
    name = f"pychat-test-{os.getpid()}-{time.time_ns()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        assert systemd.notify_ready(environ={"NOTIFY_SOCKET": "@" + name})
        assert received(sock) == "READY=1"


@pytest.mark.parametrize("env", [{}, {"NOTIFY_SOCKET": ""}])
def test_without_notify_socket_everything_is_a_quiet_no_op(env: dict[str, str]) -> None:
    assert not Notifier.from_environ(env).enabled
    assert systemd.notify_ready("x", environ=env) is False
    assert systemd.notify_watchdog(environ=env) is False
    assert systemd.notify_stopping(environ=env) is False


def test_unsupported_or_unreachable_sockets_never_raise(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert systemd.notify_ready(environ={"NOTIFY_SOCKET": "vsock:2:1234"}) is False
    assert systemd.notify_ready(environ={"NOTIFY_SOCKET": "/" + "x" * 200}) is False
    with caplog.at_level(logging.WARNING, logger="appliance.system.systemd"):
        gone = str(tmp_path / "nobody-listens")
        assert systemd.notify_ready(environ={"NOTIFY_SOCKET": gone}) is False
    assert "cannot notify systemd (READY)" in caplog.text


def test_a_full_queue_drops_instead_of_blocking(manager_socket: tuple[socket.socket, str]) -> None:
    sock, address = manager_socket
    notifier = Notifier(address)
    started = time.monotonic()
    results = [notifier.watchdog() for _ in range(2000)]  # nobody reads the socket
    assert time.monotonic() - started < 2
    assert results[0] is True and False in results
    assert pending(sock)[0] == "WATCHDOG=1"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, None),
        ({"WATCHDOG_USEC": "30000000"}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "4242"}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "4243"}, None),  # another process's
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "-5"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
    ],
)
def test_watchdog_interval_is_half_the_timeout_for_this_process(
    env: dict[str, str], expected: float | None
) -> None:
    assert watchdog_interval(env, pid=4242) == expected


def test_watchdog_interval_defaults_to_this_process() -> None:
    env = {"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(os.getpid())}
    assert watchdog_interval(env) == 1.0


class Recorder(Notifier):
    """A notifier that notes when each ping was sent (monotonic clock)."""

    def __init__(self) -> None:
        super().__init__("/unused")
        self.pings: list[float] = []
        self.arrived = asyncio.Event()

    def send(self, *fields: tuple[str, str]) -> bool:
        if fields == (("WATCHDOG", "1"),):
            self.pings.append(time.monotonic())
            self.arrived.set()
        return True

    async def next_ping(self) -> None:
        self.arrived.clear()
        async with asyncio.timeout(5):
            await self.arrived.wait()


WATCHED = {"NOTIFY_SOCKET": "/unused", "WATCHDOG_USEC": "100000"}  # a ping every 50 ms


async def test_the_keepalive_pings_over_the_socket_and_stops_with_the_app(
    manager_socket: tuple[socket.socket, str],
) -> None:
    sock, address = manager_socket
    sock.setblocking(False)
    env = {"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "100000"}
    app = web.Application()
    app.cleanup_ctx.append(watchdog_keepalive(environ=env))
    runner = web.AppRunner(app)
    loop = asyncio.get_running_loop()
    with blockbuster_ctx(["appliance"]):
        await runner.setup()
        try:
            async with asyncio.timeout(5):
                pings = [(await loop.sock_recv(sock, 4096)).decode() for _ in range(3)]
            assert pings == ["WATCHDOG=1"] * 3
            assert any(t.get_name() == "systemd-watchdog" for t in asyncio.all_tasks())
        finally:
            await runner.cleanup()
    assert not any(t.get_name() == "systemd-watchdog" for t in asyncio.all_tasks())


async def test_no_ping_while_the_event_loop_is_blocked(caplog: pytest.LogCaptureFixture) -> None:
    recorder = Recorder()
    ctx = watchdog_keepalive(environ=WATCHED, notifier=recorder)(None)
    await ctx.__anext__()
    try:
        await recorder.next_ping()
        with caplog.at_level(logging.WARNING, logger="appliance.system.systemd"):
            blocked_from = time.monotonic()
            time.sleep(0.4)  # the loop is stuck: 8 intervals without a chance to ping
            blocked_until = time.monotonic()
            await recorder.next_ping()
        assert not [t for t in recorder.pings if blocked_from < t < blocked_until]
        assert "event loop was unresponsive" in caplog.text
    finally:
        await _close(ctx)


async def test_no_ping_while_a_health_check_fails() -> None:
    recorder = Recorder()
    state = {"healthy": True}
    ctx = watchdog_keepalive(environ=WATCHED, notifier=recorder, healthy=lambda: state["healthy"])
    gen = ctx(None)
    await gen.__anext__()
    try:
        await recorder.next_ping()
        state["healthy"] = False
        count = len(recorder.pings)
        with pytest.raises(TimeoutError):
            await _wait(recorder, 0.3)  # six intervals
        assert len(recorder.pings) == count
        state["healthy"] = True
        await recorder.next_ping()
    finally:
        await _close(gen)


async def test_a_health_check_that_raises_counts_as_unhealthy(
    caplog: pytest.LogCaptureFixture,
) -> None:
    recorder = Recorder()

    def broken() -> bool:
        raise RuntimeError("boom")

    gen = watchdog_keepalive(environ=WATCHED, notifier=recorder, healthy=broken)(None)
    with caplog.at_level(logging.ERROR, logger="appliance.system.systemd"):
        await gen.__anext__()
        try:
            with pytest.raises(TimeoutError):
                await _wait(recorder, 0.2)
            assert recorder.pings == []
        finally:
            await _close(gen)
    assert "watchdog health check raised" in caplog.text


async def test_without_a_watchdog_the_keepalive_starts_nothing() -> None:
    before = asyncio.all_tasks()
    ctx = watchdog_keepalive(environ={"NOTIFY_SOCKET": "/unused"})(None)
    await ctx.__anext__()
    assert asyncio.all_tasks() == before
    await _close(ctx)


async def _wait(recorder: Recorder, seconds: float) -> None:
    recorder.arrived.clear()
    async with asyncio.timeout(seconds):
        await recorder.arrived.wait()


async def _close(ctx: object) -> None:
    with pytest.raises(StopAsyncIteration):
        await ctx.__anext__()  # type: ignore[attr-defined]
