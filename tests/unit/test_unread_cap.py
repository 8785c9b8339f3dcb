"""Unread counts stop at 1,000 (rooms.UNREAD_CAP, issue 17): a room's, and the total over a person's
rooms that a push carries for the app badge. Below the cap they are exact."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from appliance.db import SqliteDatabase
from appliance.storage import notify_facts, rooms
from tests.unit.sql_capture import Capture

CAP = 1000  # rooms.UNREAD_CAP, as docs/api.md states it


async def fill(path: Path, per_room: tuple[int, ...]) -> None:
    """A new database (its schema from the migrations) with reader `b` (id 2) in one room
    per entry of `per_room`, with that many messages by `a` in it, every 100th `@room`."""
    db = SqliteDatabase(path)
    await db.open()
    await db.close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    for name in ("a", "b"):
        conn.execute(
            "INSERT INTO users(username, display_name, password_hash, created_at)"
            " VALUES (?, ?, 'x', 0)",
            (name, name),
        )
    next_id = 1
    for room_id, count in enumerate(per_room, start=1):
        conn.execute(
            "INSERT INTO rooms(id, kind, name, created_at) VALUES (?, 'private', ?, 0)",
            (room_id, f"r{room_id}"),
        )
        conn.executemany(
            "INSERT INTO members(room_id, user_id, joined_at) VALUES (?, ?, 0)",
            [(room_id, 1), (room_id, 2)],
        )
        conn.executemany(
            "INSERT INTO messages(id, room_id, author_id, body, created_at, mention_room)"
            " VALUES (?, ?, 1, 'x', 0, ?)",
            [(next_id + i, room_id, int(i % 100 == 99)) for i in range(count)],
        )
        next_id += count
    conn.execute("COMMIT")
    conn.close()


async def counts(path: Path) -> tuple[list[tuple[int, int]], int]:
    """Each room's (unread, mentions) for `b`, and her unread total."""
    db = SqliteDatabase(path)
    await db.open()
    try:
        states = await rooms.states_for(db, 2)
        per_room = [(int(s["unread"]), int(s["timeline_mentions"])) for s in states]
        return per_room, await notify_facts.unread_total(db, 2)
    finally:
        await db.close()


async def test_counts_stop_at_the_cap(tmp_path: Path) -> None:
    path = tmp_path / "pychat.db"
    await fill(path, (CAP + 200, 700, 3))

    per_room, total = await counts(path)

    # Mentions stay exact: 12 `@room` among the first room's 1,200 messages.
    assert per_room == [(CAP, 12), (700, 7), (3, 0)]
    assert total == CAP


async def test_room_mentions_start_from_the_room_mention_index(tmp_path: Path) -> None:
    """Not from the timeline index, which SQLite prefers without INDEXED BY: it covers the
    query but holds every message after the marker (all of a room's, for a marker of 0)."""
    path = tmp_path / "pychat.db"
    await fill(path, (10,))
    db = SqliteDatabase(path)
    await db.open()
    try:
        capture = Capture()
        await rooms.states_for(capture, 2)  # type: ignore[arg-type]
        plan = await db.fetchall(f"EXPLAIN QUERY PLAN {capture.sql}", capture.params)
    finally:
        await db.close()
    details = [str(row[3]) for row in plan]
    wanted = "SEARCH q USING INDEX messages_timeline_room_mentions (room_id=? AND id>?)"
    assert wanted in details, details


async def test_counts_below_the_cap_are_exact(tmp_path: Path) -> None:
    path = tmp_path / "pychat.db"
    await fill(path, (CAP - 1,))

    assert await counts(path) == ([(CAP - 1, 9)], CAP - 1)
