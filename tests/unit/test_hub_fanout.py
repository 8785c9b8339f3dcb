"""The hub's fan-out of a committed batch against a real event log: each socket gets the
batch as one write (its frames joined, in seq order), with the replies its callers write
once the batch is durable, membership changes inside the batch still decide who gets what,
and a socket whose unsent bytes would pass its limit is cut off exactly where it was before
batches were joined."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from appliance.chat import membership
from appliance.connection import CLOSE_SLOW, Connection
from appliance.db import CALLER, SqliteDatabase, Tx
from appliance.hub import Hub
from appliance.replay import EventStream

ALICE, BOB, CAROL = 1, 2, 3
ROOM, OTHER = 10, 11


def frames_of(data: bytes) -> list[dict[str, Any]]:
    """Every server text frame (RFC 6455, unmasked) in one write."""
    out, pos = [], 0
    while pos < len(data):
        size, head = data[pos + 1], 2
        if size == 126:
            size, head = int.from_bytes(data[pos + 2 : pos + 4], "big"), 4
        out.append(json.loads(data[pos + head : pos + head + size]))
        pos += head + size
    return out


class NeverDrained:
    """A transport whose client reads nothing: every byte written stays buffered."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return sum(map(len, self.writes))

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def seqs(self) -> list[int]:
        return [f["seq"] for data in self.writes for f in frames_of(data)]


class ClosingSocket:
    def __init__(self) -> None:
        self.closed_with: int | None = None

    async def close(self, *, code: int, message: bytes) -> None:
        self.closed_with = code


@pytest.fixture
async def log(tmp_path: Path) -> AsyncIterator[tuple[SqliteDatabase, Hub]]:
    db = SqliteDatabase(tmp_path / "pychat.db")
    await db.open()
    hub = Hub(membership=membership.change_of)
    db.on_commit = hub.publish
    db.before_publish = hub.hold
    db.on_settled = hub.settled
    try:
        yield db, hub
    finally:
        hub.close_all()
        await db.close()


def live(hub: Hub, user_id: int, limit: int = 1 << 20) -> tuple[Connection, NeverDrained]:
    """A socket past its hello: every event from now on is written to it."""
    transport = NeverDrained()
    conn = Connection(ClosingSocket(), transport, user_id, 1, "a", limit)  # type: ignore[arg-type]
    hub.register(conn)
    EventStream(conn).go_live(0)
    return conn, transport


async def emit(
    db: SqliteDatabase, *events: tuple[str, int, dict[str, Any], int | None]
) -> list[int]:
    """One write job: its events are committed, and published, as one batch."""

    async def job(tx: Tx) -> list[int]:
        for kind, room, data, user in events:
            await tx.emit(kind, room, data, 0, user_id=user)
        return [event.seq for event in tx.events]  # SQLite's tx: positions taken

    return await db.write(job)


async def released() -> None:
    """The hub writes what it held for a caller on the turn of the loop that resumes the
    batch's callers, after them (Hub.hold): one more turn sees it written."""
    await asyncio.sleep(0)  # a turn of the loop, not a wait for time


def message(room: int, text: str) -> tuple[str, int, dict[str, Any], None]:
    return ("message.new", room, {"message": {"body": text}}, None)


async def test_a_batch_reaches_each_socket_as_one_write_in_seq_order(
    log: tuple[SqliteDatabase, Hub],
) -> None:
    db, hub = log
    await emit(db, ("room.new", ROOM, {"room": {"members": [ALICE, BOB]}}, None))
    sockets = [live(hub, ALICE), live(hub, ALICE), live(hub, BOB)]
    _, outsider = live(hub, CAROL)

    seqs = await emit(db, *(message(ROOM, f"m{i}") for i in range(3)))

    for _, transport in sockets:
        assert len(transport.writes) == 1  # not one system call per event
        assert transport.seqs() == seqs
    assert outsider.writes == []


async def test_membership_changes_inside_a_batch_decide_who_gets_each_event(
    log: tuple[SqliteDatabase, Hub],
) -> None:
    db, hub = log
    await emit(
        db,
        ("room.new", ROOM, {"room": {"members": [ALICE, BOB]}}, None),
        ("room.new", OTHER, {"room": {"members": [BOB]}}, None),
    )
    (_, alice), (_, bob), (_, carol) = live(hub, ALICE), live(hub, BOB), live(hub, CAROL)

    before, join, during, leave, after, elsewhere = await emit(
        db,
        message(ROOM, "before Carol"),
        ("member.join", ROOM, {"user": CAROL}, CAROL),
        message(ROOM, "with Carol"),
        ("member.leave", ROOM, {"user": BOB}, BOB),
        message(ROOM, "without Bob"),
        message(OTHER, "Bob's other room"),
    )

    assert alice.seqs() == [before, join, during, leave, after]
    assert bob.seqs() == [before, join, during, leave, elsewhere]  # his own leave, then no more
    assert carol.seqs() == [join, during, leave, after]


async def test_a_batch_past_the_send_buffer_closes_the_socket_as_too_slow(
    log: tuple[SqliteDatabase, Hub],
) -> None:
    db, hub = log
    await emit(db, ("room.new", ROOM, {"room": {"members": [ALICE, BOB]}}, None))
    slow, slow_transport = live(hub, ALICE, limit=1000)
    _, fine = live(hub, BOB)
    (first,) = await emit(db, message(ROOM, "x" * 400))
    assert slow_transport.seqs() == [first]
    was_closed = slow.closed
    assert not was_closed

    second, third = await emit(db, message(ROOM, "y" * 400), message(ROOM, "z" * 400))

    # Together they would pass the limit: written one by one, the one that fits is, then
    # the socket is closed (as without joining: nobody is cut off sooner or later).
    assert slow.closed and slow_transport.seqs() == [first, second]
    await asyncio.sleep(0)  # the close runs as a task
    assert slow.ws.closed_with == CLOSE_SLOW  # type: ignore[attr-defined]
    assert fine.seqs() == [first, second, third] and len(fine.writes) == 2


async def test_a_senders_event_and_the_reply_it_waited_for_leave_as_one_write(
    log: tuple[SqliteDatabase, Hub],
) -> None:
    """Under load each message was two system calls to its sender: the event, then the
    acknowledgement. Held together, in the order they were written; the other members'
    sockets are written at once, as before."""
    db, hub = log
    await emit(db, ("room.new", ROOM, {"room": {"members": [ALICE, BOB]}}, None))
    sender, sender_transport = live(hub, ALICE)
    _, bob = live(hub, BOB)

    async def send(tx: Tx) -> int:
        await tx.emit(*message(ROOM, "hi")[:3], 0)
        return tx.events[-1].seq

    CALLER.set(sender)  # as the command loop does for the socket's requests
    seq = await db.write(send)
    assert bob.seqs() == [seq] and sender_transport.writes == []
    sender.send(b'{"type":"reply","req":"1","ok":true}')  # as the command loop answers
    await released()

    assert len(sender_transport.writes) == 1
    event, reply = frames_of(sender_transport.writes[0])
    assert (event["seq"], reply["type"]) == (seq, "reply")
    assert not hub.holding


async def test_what_was_held_goes_out_before_a_close(log: tuple[SqliteDatabase, Hub]) -> None:
    db, hub = log
    await emit(db, ("room.new", ROOM, {"room": {"members": [ALICE]}}, None))
    conn, transport = live(hub, ALICE)

    async def send(tx: Tx) -> int:
        await tx.emit(*message(ROOM, "bye")[:3], 0)
        return tx.events[-1].seq

    CALLER.set(conn)
    seq = await db.write(send)
    assert hub.holding and transport.writes == []  # held until the callers have answered
    conn.close(4001, "signed out")

    assert transport.seqs() == [seq]  # not lost behind the close
    await released()
    assert transport.seqs() == [seq] and not hub.holding  # and not written twice
