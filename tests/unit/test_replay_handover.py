"""`replay.resume` against a real event log and hub, with the timing made deterministic:
live events committed while the replay is being sent arrive after the reply, each once,
in seq order; the hub follows membership from typed changes, never from payloads."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from appliance import replay
from appliance.chat import membership
from appliance.connection import CLOSE_SLOW, Connection
from appliance.db import Event, SqliteDatabase, Tx
from appliance.hub import Hub, MembershipChange

ALICE, BOB, CAROL = 1, 2, 3
ROOM, OTHER = 10, 11


class FakeTransport:
    def __init__(self, out: list[dict[str, Any]]) -> None:
        self.out = out
        self.unsent = 0  # bytes the client has not read yet

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return self.unsent

    def write(self, frame: bytes) -> None:
        self.out.append(json.loads(frame[2:] if frame[1] < 126 else frame[4:]))


class FakeWebSocket:
    """Records paced sends; `on_send` runs inside the first ones, as a client draining."""

    def __init__(self, out: list[dict[str, Any]]) -> None:
        self.out = out
        self.on_send: list[Callable[[], Awaitable[None]]] = []
        self.closed_with: int | None = None

    async def send_frame(self, payload: bytes, kind: object) -> None:
        self.out.append(json.loads(payload))
        if self.on_send:
            await self.on_send.pop(0)()

    async def close(self, *, code: int, message: bytes) -> None:
        self.closed_with = code


@pytest.fixture
async def log(tmp_path: Path) -> AsyncIterator[tuple[SqliteDatabase, Hub]]:
    db = SqliteDatabase(tmp_path / "pychat.db")
    await db.open()
    hub = Hub(membership=membership.change_of)
    db.on_commit = hub.publish
    try:
        yield db, hub
    finally:
        hub.close_all()
        await db.close()


async def emit(
    db: SqliteDatabase, *events: tuple[str, int, dict[str, Any], int | None]
) -> list[int]:
    async def job(tx: Tx) -> list[int]:
        for kind, room, data, user in events:
            await tx.emit(kind, room, data, 0, user_id=user)
        return [event.seq for event in tx.events]  # SQLite's tx: positions taken

    return await db.write(job)


def message(room: int, text: str) -> tuple[str, int, dict[str, Any], None]:
    return ("message.new", room, {"message": {"body": text}}, None)


def connect(
    hub: Hub, user_id: int, limit: int = 1 << 20, transport: FakeTransport | None = None
) -> tuple[Connection, FakeWebSocket]:
    out: list[dict[str, Any]] = []
    ws = FakeWebSocket(out)
    transport = transport or FakeTransport(out)
    transport.out = out
    conn = Connection(ws, transport, user_id, 1, "a", limit)  # type: ignore[arg-type]
    hub.register(conn)
    return conn, ws


def answer(replies: list[dict[str, Any]]) -> Callable[[dict[str, Any]], bytes]:
    """The hello reply `resume` sends: noted, and written as a reply frame."""

    def reply(data: dict[str, Any]) -> bytes:
        replies.append(data)
        return b'{"type":"reply"}'

    return reply


def sent(ws: FakeWebSocket) -> list[Any]:
    """What the socket received: event seqs, and "reply" where the hello reply came."""
    return [f["seq"] if f["type"] == "event" else f["type"] for f in ws.out]


async def test_live_events_during_the_replay_follow_the_reply_once_and_in_order(
    log: tuple[SqliteDatabase, Hub],
) -> None:
    db, hub = log
    room = {"room": {"members": [ALICE, BOB]}}
    await emit(db, ("room.new", ROOM, room, None))
    other = {"room": {"members": [BOB]}}
    await emit(db, ("room.new", OTHER, other, None))
    since, *missed = await emit(db, *(message(ROOM, f"m{i}") for i in range(4)))
    hidden = await emit(db, message(OTHER, "not for alice"))
    conn, ws = connect(hub, ALICE)
    during: list[int] = []

    async def others_keep_sending() -> None:
        during.extend(await emit(db, message(ROOM, "while replaying"), message(OTHER, "no")))
        hub.publish([Event(missed[0], "message.new", ROOM, None, "{}", 0)])  # seen twice

    ws.on_send.append(others_keep_sending)
    replies: list[dict[str, Any]] = []

    await replay.resume(db, hub, conn, since, 1000, answer(replies))

    assert replies == [{"head": hidden[0]}]
    assert sent(ws) == [*missed, "reply", during[0]]
    assert conn.live
    await emit(db, message(ROOM, "live"))
    assert len(sent(ws)) == len(missed) + 3


async def test_a_since_too_far_behind_or_ahead_resyncs_without_replaying(
    log: tuple[SqliteDatabase, Hub],
) -> None:
    db, hub = log
    await emit(db, ("room.new", ROOM, {"room": {"members": [ALICE]}}, None))
    *_, head = await emit(db, *(message(ROOM, f"m{i}") for i in range(5)))
    for since, limit in ((0, 3), (10**6, 1000)):  # more than 3 behind; ahead of the log
        conn, ws = connect(hub, ALICE)
        replies: list[dict[str, Any]] = []
        await replay.resume(db, hub, conn, since, limit, answer(replies))
        assert replies == [{"head": head, "resync": True}] and sent(ws) == ["reply"]
        (head,) = await emit(db, message(ROOM, "live"))
        assert sent(ws) == ["reply", head]


async def test_holding_more_than_the_socket_may_buffer_closes_it_as_too_slow(
    log: tuple[SqliteDatabase, Hub],
) -> None:
    db, hub = log
    await emit(db, ("room.new", ROOM, {"room": {"members": [ALICE]}}, None))
    since, _ = await emit(db, message(ROOM, "a"), message(ROOM, "b"))
    conn, ws = connect(hub, ALICE, limit=200)

    async def a_burst() -> None:
        await emit(db, *(message(ROOM, "x" * 100) for _ in range(3)))

    ws.on_send.append(a_burst)
    replies: list[dict[str, Any]] = []
    await replay.resume(db, hub, conn, since, 1000, answer(replies))
    await asyncio.sleep(0)  # the close task
    assert conn.closed and ws.closed_with == CLOSE_SLOW
    assert replies == [] and not conn.live


def test_the_hub_follows_typed_membership_changes_and_reads_no_payload() -> None:
    changes = {
        7: MembershipChange(ROOM, joined=(ALICE, BOB)),
        8: MembershipChange(ROOM, left=(BOB,)),
    }
    hub = Hub(membership=lambda event: changes.get(event.seq))
    hub.publish([Event(seq, "any", ROOM, None, "not json", 0) for seq in (7, 8)])
    assert hub.members(ROOM) == {ALICE} and hub.rooms_of(BOB) == set()


def test_membership_changes_come_from_the_events_rooms_emits() -> None:
    def change(kind: str, data: dict[str, Any], user: int | None) -> MembershipChange | None:
        return membership.change_of(Event(1, kind, ROOM, user, json.dumps(data), 0))

    new = change("room.new", {"room": {"members": [ALICE, CAROL]}}, None)
    assert new == MembershipChange(ROOM, joined=(ALICE, CAROL))
    assert change("member.join", {"user": BOB}, BOB) == MembershipChange(ROOM, joined=(BOB,))
    assert change("member.leave", {"user": BOB}, BOB) == MembershipChange(ROOM, left=(BOB,))
    assert change("message.new", {"message": {}}, None) is None


async def test_a_client_still_reading_the_replay_is_handed_over_not_closed(
    log: tuple[SqliteDatabase, Hub],
) -> None:
    """The replay is sent paced, so when it ends the socket's buffer may still be nearly
    full while the client reads on: the reply and what was held meanwhile wait their turn
    like the replay did, instead of overflowing the budget (a 4008 the client never
    earned)."""
    db, hub = log
    await emit(db, ("room.new", ROOM, {"room": {"members": [ALICE]}}, None))
    since, *missed = await emit(db, *(message(ROOM, "x" * 100) for _ in range(3)))
    slow = FakeTransport([])
    conn, ws = connect(hub, ALICE, limit=1000, transport=slow)
    during: list[int] = []

    async def a_message_while_the_buffer_is_full() -> None:
        slow.unsent = 990  # the replay so far, not read yet
        during.extend(await emit(db, message(ROOM, "during")))

    ws.on_send.append(a_message_while_the_buffer_is_full)
    replies: list[dict[str, Any]] = []
    await replay.resume(db, hub, conn, since, 1000, answer(replies))
    assert not conn.closed and ws.closed_with is None
    assert sent(ws) == [*missed, "reply", *during] and conn.live
