"""Upgrading to schema 8 (a read marker per thread): the thread mentions a member's room
marker had already passed stay cleared; a later one still counts."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from appliance.db import SqliteDatabase, migration_scripts
from appliance.storage import rooms


def schema_7_database(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    for version, sql in migration_scripts():
        if version < 8:
            conn.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version={version};\nCOMMIT;")
    for name in ("a", "b"):
        conn.execute(
            "INSERT INTO users(username, display_name, password_hash, created_at)"
            " VALUES (?, ?, 'x', 0)",
            (name, name),
        )
    conn.execute("INSERT INTO rooms(id, kind, name, created_at) VALUES (1, 'private', 'r', 0)")
    for user in (1, 2):
        conn.execute("INSERT INTO members(room_id, user_id, joined_at) VALUES (1, ?, 0)", (user,))
    conn.execute(
        "INSERT INTO messages(id, room_id, author_id, body, created_at) VALUES (1, 1, 1, 'root', 0)"
    )
    # Replies by a: 2 names b, 3 names the room (both before b's marker), 4 names b after it.
    for reply, whole_room in ((2, 0), (3, 1), (4, 0)):
        conn.execute(
            "INSERT INTO messages(id, room_id, author_id, thread_id, body, created_at,"
            " mention_room) VALUES (?, 1, 1, 1, 'reply', 0, ?)",
            (reply, whole_room),
        )
    conn.execute("INSERT INTO mentions VALUES (2, 2, 1), (4, 2, 1)")
    conn.execute("INSERT INTO read_markers VALUES (1, 2, 3)")
    conn.close()


async def test_upgrading_keeps_thread_mentions_the_room_marker_had_cleared(tmp_path: Path) -> None:
    path = tmp_path / "pychat.db"
    schema_7_database(path)
    db = SqliteDatabase(path)
    await db.open()
    try:
        marker = await db.fetchall("SELECT root_id, user_id, message_id FROM thread_reads")
        assert [tuple(row) for row in marker] == [(1, 2, 3)]
        (state,) = await rooms.states_for(db, 2)
        assert (state["timeline_mentions"], state["thread_mentions"]) == (0, 1)
    finally:
        await db.close()
