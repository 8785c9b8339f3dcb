"""The event log is pruned to its replay window (issue 19, item 3; event_retention.py):
bounded on a device that runs for years, without breaking exact replay inside the window,
and a socket behind the oldest event kept resyncs instead of missing events."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path

from tests.client import Client, Socket
from tests.conftest import USER_PASSWORD, new_room, people_on
from tests.server import Server
from tests.waiting import wait_until

WINDOW = 30  # ws.replay_limit: the replay window, in events
SENT = 60


def log_span(db: Path) -> tuple[int, int, int]:
    """(oldest seq, newest seq, count) of the event log, read beside the running server."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        row = conn.execute("SELECT min(seq), max(seq), count(*) FROM events").fetchone()
        return int(row[0]), int(row[1]), int(row[2])
    finally:
        conn.close()


async def span(srv: Server) -> tuple[int, int, int]:
    return await asyncio.to_thread(log_span, srv.data / "pychat.db")


async def received(sock: Socket, count: int) -> list[tuple[int, int]]:
    """(seq, message id) of the next `count` message.new events on `sock`."""
    got: list[tuple[int, int]] = []
    while len(got) < count:
        event = await sock.event("message.new")
        got.append((event["seq"], event["data"]["message"]["id"]))
    return got


def replayed(sock: Socket, since: int, head: int) -> list[tuple[int, int]]:
    """(seq, message id) of the message.new events `hello` replayed in (since, head]: they
    all arrive before its reply, which `connect` waited for."""
    replayed = [e for e in sock.events() if e["seq"] <= head]
    assert all(e["seq"] > since for e in replayed), replayed
    return [(e["seq"], e["data"]["message"]["id"]) for e in replayed if e["kind"] == "message.new"]


async def traffic(srv: Server, count: int = SENT) -> tuple[list[tuple[int, int]], str]:
    """Alice sends `count` messages to Bob: what Bob received live, and his username."""
    async for make in people_on(srv.url):
        alice, bob = await make("alice"), await make("bob")
        room = (await new_room(alice, bob))["id"]
        a, b = await alice.connect(), await bob.connect()
        for i in range(count):
            await a.send_message(room, f"message {i}")
        sent = await received(b, count)
        bob_name = bob.user["username"]
    return sent, bob_name


def restart(srv: Server, **env: str) -> None:
    srv.stop()
    srv.env = {**srv.env, **env}
    srv.start(timeout=60)


async def test_the_log_keeps_the_replay_window_and_older_sockets_resync(
    make_server: Callable[..., Server],
) -> None:
    srv = make_server({"PYCHAT_WS_REPLAY_LIMIT": str(WINDOW)})
    sent, bob_name = await traffic(srv)
    head = sent[-1][0]
    assert (await span(srv))[2] > SENT  # nothing pruned while it runs (hourly, and at start)

    # The start prunes: the newest WINDOW events stay, every older one goes.
    restart(srv)
    pruned: tuple[int, int, int] | None = await wait_until(
        lambda: _pruned(srv), what="the log is pruned to the replay window"
    )
    assert pruned is not None
    oldest, newest, count = pruned
    assert newest - oldest + 1 == count == WINDOW, (oldest, newest, count)
    assert oldest > head - WINDOW

    bob = await Client(srv.url).login(bob_name, USER_PASSWORD)
    try:
        # Inside the window: exactly the events after `since`, none before, no resync.
        since = head - 10
        inside = await bob.connect(since=since)
        assert not inside.hello_reply["data"].get("resync"), inside.hello_reply
        assert replayed(inside, since, head) == [s for s in sent if s[0] > since]
        # Outside: resync (the client reloads over REST).
        outside = await bob.connect(since=head - WINDOW - 15)
        assert outside.hello_reply["data"]["resync"] is True
    finally:
        await bob.close()

    # A window made larger later cannot bring pruned events back: a socket behind the
    # oldest event kept resyncs, where a replay would silently skip the pruned ones.
    restart(srv, PYCHAT_WS_REPLAY_LIMIT="1000")
    bob = await Client(srv.url).login(bob_name, USER_PASSWORD)
    try:
        behind = await bob.connect(since=head - WINDOW - 15)
        assert behind.hello_reply["data"]["resync"] is True, behind.hello_reply
        edge = (await span(srv))[0] - 1  # the newest pruned: everything after it is kept
        exact = await bob.connect(since=edge)
        assert not exact.hello_reply["data"].get("resync")
        assert replayed(exact, edge, head) == [s for s in sent if s[0] > edge]
    finally:
        await bob.close()


async def _pruned(srv: Server) -> tuple[int, int, int] | None:
    oldest, newest, count = await span(srv)
    return (oldest, newest, count) if count <= WINDOW else None
