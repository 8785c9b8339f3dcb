"""Upgrading a database made before redaction (schema 5): messages deleted or edited back
then no longer replay their old text, and the search index no longer holds it."""

from __future__ import annotations

import json
import sqlite3
import uuid
from pathlib import Path
from typing import Any

from appliance.db import SqliteDatabase, migration_scripts
from appliance.storage import events


def message(message_id: int, body: str, **changes: Any) -> dict[str, Any]:
    found: dict[str, Any] = {
        "id": message_id,
        "room": 1,
        "author": 1,
        "thread": None,
        "body": body,
        "attachments": [{"id": 9, "name": "notes.pdf"}],
        "created_at": 1,
        "edited_at": None,
        "deleted": False,
        "client_id": None,
        "reply_count": 0,
        "last_reply_at": None,
        "reactions": {},
        "mentions": [2],
        "mention_room": True,
    }
    return found | changes


def schema_5_database(path: Path, old: dict[int, str], now: dict[int, str]) -> None:
    """Messages as schema 5 kept them: message 1 deleted, 2 edited, 3 untouched."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA secure_delete=ON")  # Debian's SQLite default, before schema 6 too
    for version, sql in migration_scripts():
        if version <= 5:
            conn.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version={version};\nCOMMIT;")
    for name in ("a", "b"):
        conn.execute(
            "INSERT INTO users(username, display_name, password_hash, created_at)"
            " VALUES (?, ?, 'x', 0)",
            (name, name),
        )
    conn.execute("INSERT INTO rooms(kind, name, created_at) VALUES ('channel', 'general', 0)")

    def emit(kind: str, data: dict[str, Any]) -> None:
        conn.execute(
            "INSERT INTO events(kind, room_id, data, created_at) VALUES (?, 1, ?, 0)",
            (kind, json.dumps({"message": data}, ensure_ascii=False)),
        )

    for message_id, body in old.items():
        conn.execute(
            "INSERT INTO messages(id, room_id, author_id, body, created_at, mention_room)"
            " VALUES (?, 1, 1, ?, 1, 1)",
            (message_id, body),
        )
        conn.execute("INSERT INTO mentions VALUES (?, 2, 1)", (message_id,))
        emit("message.new", message(message_id, body))
    conn.execute("UPDATE messages SET body = ?, edited_at = 5 WHERE id = 2", (now[2],))
    conn.execute("DELETE FROM mentions WHERE message_id = 2")
    conn.execute("UPDATE messages SET mention_room = 0 WHERE id = 2")
    emit("message.edit", message(2, now[2], edited_at=5, mentions=[], mention_room=False))
    conn.execute(
        "UPDATE messages SET body = '', deleted = 1, mention_room = 0, edited_at = 6 WHERE id = 1"
    )
    conn.execute("DELETE FROM mentions WHERE message_id = 1")
    tombstone = message(1, "", edited_at=6, deleted=True, attachments=[], mentions=[])
    emit("message.delete", tombstone | {"mention_room": False})
    conn.close()


async def test_upgrading_redacts_what_was_deleted_or_edited_before(tmp_path: Path) -> None:
    words = {i: f"w{i}{uuid.uuid4().hex}" for i in (1, 2, 3)}
    old = {i: f"{word} said long ago" for i, word in words.items()}
    now = {1: "", 2: "corrected", 3: old[3]}
    path = tmp_path / "pychat.db"
    schema_5_database(path, old, now)

    db = SqliteDatabase(path)
    await db.open()
    try:
        log = await events.after(db, 0, 100)
        replayed = [(e.kind, json.loads(e.data_json)["message"]) for e in log]
        # Every event is still there, in order; none holds an old text.
        assert [(kind, m["id"]) for kind, m in replayed] == [
            ("message.new", 1),
            ("message.new", 2),
            ("message.new", 3),
            ("message.edit", 2),
            ("message.delete", 1),
        ]
        first = {m["id"]: m for kind, m in replayed if kind == "message.new"}
        assert first[1] == message(
            1, "", edited_at=6, deleted=True, attachments=[], mentions=[], mention_room=False
        )
        assert first[2] == message(2, "corrected", edited_at=5, mentions=[], mention_room=False)
        assert first[3] == message(3, old[3])
    finally:
        await db.close()
    wal = Path(f"{path}-wal")
    stored = path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    assert words[1][-20:].encode() not in stored
    assert words[2][-20:].encode() not in stored
    assert words[3][-20:].encode() in stored
