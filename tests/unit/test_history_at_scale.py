"""History at a million messages (issue 17; the figures are bench/history.py's).

Upgrading to schema 15 rebuilds the search index with prefixes of 1-3 letters indexed and
no word positions: every message stays findable (by any prefix, accents ignored, newest
first), a deleted message's words are not, and the index agrees with the messages. The
search query is ordered by the index's rowid, so SQLite never sorts every match before the
first page. A room's unread and mention counts read indexes only, and count as before."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from appliance.chat.messages import search_words
from appliance.db import SqliteDatabase, migration_scripts
from appliance.storage import messages, rooms
from tests.unit.sql_capture import Capture

BODIES = {
    1: "deployment tomorrow",
    2: "the printer is broken",
    3: "deploy it",
    4: "zebra plans",  # deleted before the upgrade
    5: "Ärger über den Drucker",
    6: "see snake_case here",
}


def schema_14_database(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    for version, sql in migration_scripts():
        if version <= 14:
            conn.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version={version};\nCOMMIT;")
    conn.execute(
        "INSERT INTO users(username, display_name, password_hash, created_at)"
        " VALUES ('a', 'a', 'x', 0)"
    )
    conn.execute("INSERT INTO rooms(id, kind, name, created_at) VALUES (1, 'private', 'r', 0)")
    conn.execute("INSERT INTO members(room_id, user_id, joined_at) VALUES (1, 1, 0)")
    for mid, body in BODIES.items():
        conn.execute(
            "INSERT INTO messages(id, room_id, author_id, body, created_at) VALUES (?, 1, 1, ?, 0)",
            (mid, body),
        )
    # As messages.tombstone deletes one: the body goes, the trigger updates the index.
    conn.execute("UPDATE messages SET body = '', deleted = 1 WHERE id = 4")
    conn.close()


async def found(db: SqliteDatabase, words: list[str], before: int | None = None) -> list[int]:
    rows = await messages.search(db, 1, words, None, before, 10)
    return [int(r["id"]) for r in rows]


async def test_upgrading_keeps_every_message_findable_by_any_prefix(tmp_path: Path) -> None:
    path = tmp_path / "pychat.db"
    schema_14_database(path)
    db = SqliteDatabase(path)
    await db.open()
    try:
        assert await found(db, ["d"]) == [5, 3, 1]
        assert await found(db, ["de"]) == [5, 3, 1]  # "den"
        assert await found(db, ["dep"]) == [3, 1]
        assert await found(db, ["deplo"]) == [3, 1]
        assert await found(db, ["dep"], before=3) == [1]
        assert await found(db, ["arg"]) == [5]  # accents ignored
        assert await found(db, ["t", "pr"]) == [2]
        assert await found(db, ["z"]) == []  # deleted
        # The index keeps no positions: what the person typed becomes one term per token.
        assert await found(db, search_words("snake_ca")) == [6]
    finally:
        await db.close()
    conn = sqlite3.connect(path)
    (sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'messages_fts'").fetchone()
    assert "prefix='1 2 3', detail='none'" in sql
    # The rebuilt index holds exactly what the messages say (FTS5 raises otherwise).
    conn.execute("INSERT INTO messages_fts(messages_fts, rank) VALUES ('integrity-check', 1)")
    conn.close()


async def test_search_reads_its_page_in_index_order_without_sorting_every_match(
    tmp_path: Path,
) -> None:
    db = SqliteDatabase(tmp_path / "pychat.db")
    await db.open()
    try:
        for room, before in ((None, None), (1, None), (None, 100), (1, 100)):
            capture = Capture()
            await messages.search(capture, 1, ["the"], room, before, 51)  # type: ignore[arg-type]
            plan = await db.fetchall(f"EXPLAIN QUERY PLAN {capture.sql}", capture.params)
            details = [str(row[3]) for row in plan]
            assert not any("TEMP B-TREE" in d for d in details), details
            assert any("VIRTUAL TABLE" in d for d in details), details
    finally:
        await db.close()


async def test_room_counts_read_indexes_only_and_count_each_mention_once(tmp_path: Path) -> None:
    path = tmp_path / "pychat.db"
    schema_14_database(path)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(
        "INSERT INTO users(username, display_name, password_hash, created_at)"
        " VALUES ('b', 'b', 'x', 0)"
    )
    conn.execute("INSERT INTO members(room_id, user_id, joined_at) VALUES (1, 2, 0)")
    conn.execute("INSERT INTO read_markers VALUES (1, 2, 2)")  # b read up to message 2
    # By a after b's marker: 16 names b and the room (one mention), 17 the room, 18 nobody,
    # 19 names b but is deleted; 1 named b before the marker; 20 is b's own, naming the room.
    for mid, author, whole_room, deleted in (
        (16, 1, 1, 0), (17, 1, 1, 0), (18, 1, 0, 0), (19, 1, 0, 1), (20, 2, 1, 0),
    ):  # fmt: skip
        conn.execute(
            "INSERT INTO messages(id, room_id, author_id, body, created_at, mention_room,"
            " deleted) VALUES (?, 1, ?, 'x', 0, ?, ?)",
            (mid, author, whole_room, deleted),
        )
    conn.execute("INSERT INTO mentions VALUES (1, 2, 1), (16, 2, 1), (19, 2, 1)")
    conn.close()
    db = SqliteDatabase(path)
    await db.open()
    try:
        (state,) = await rooms.states_for(db, 2)
        # Unread: 3, 5, 6, 16, 17, 18 (4 and 19 deleted, 20 her own).
        assert (state["unread"], state["timeline_mentions"]) == (6, 2)
        capture = Capture()
        await rooms.states_for(capture, 2)  # type: ignore[arg-type]
        plan = await db.fetchall(f"EXPLAIN QUERY PLAN {capture.sql}", capture.params)
        details = [str(row[3]) for row in plan]
        covering = "SEARCH m USING COVERING INDEX messages_timeline (room_id=? AND id>?)"
        assert covering in details, details
        # No probe of the mentions table per message after the marker.
        assert not any("(message_id=? AND user_id=?)" in d for d in details), details
    finally:
        await db.close()
