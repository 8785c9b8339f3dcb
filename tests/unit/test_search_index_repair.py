"""A search index that SQLite 3.40's FTS5 corrupted under the old step-by-step scrub (issue 19:
every send failed as "malformed") is repaired by the upgrade to schema 16, which builds the
index again from the messages: sends work, search finds what it should, the index is sound.
One that breaks while the server runs is rebuilt by the writer, and no send fails."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest

from appliance.db import SqliteDatabase, SyncTx, Tx, migration_scripts

BEFORE_REPAIR = 15
REBUILT = "the search index was rebuilt"
MERGE_STEP = "INSERT INTO messages_fts(messages_fts, rank) VALUES ('merge', -8)"


def corrupt_index(path: Path) -> int:
    """A schema-15 database whose index broke as the old scrub broke it (with smaller merge
    steps, so it takes seconds); returns how many messages it holds."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    for version, sql in migration_scripts():
        if version <= BEFORE_REPAIR:
            conn.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version={version};\nCOMMIT;")
    conn.execute(
        "INSERT INTO users(username, display_name, password_hash, created_at)"
        " VALUES ('a', 'a', 'x', 0)"
    )
    conn.execute("INSERT INTO rooms(kind, name, created_at) VALUES ('channel', 'general', 0)")
    rng = random.Random(1)
    sent = 0

    def send(count: int) -> None:
        nonlocal sent
        for _ in range(count):
            sent += 1
            body = f"tok{sent} soak message {sent} k{rng.randrange(60)}"
            conn.execute(
                "INSERT INTO messages(room_id, author_id, body, created_at) VALUES (1, 1, ?, ?)",
                (body, sent),
            )

    try:
        while sent < 40_000:
            conn.execute("BEGIN IMMEDIATE")
            send(rng.randint(1, 20))
            if rng.random() < 0.1:
                target = rng.randint(max(1, sent - 2000), sent)
                conn.execute("UPDATE messages SET body = '' WHERE id = ?", (target,))
            conn.execute("COMMIT")
            if rng.random() < 0.1:
                for _ in range(20):  # the old scrub's steps, messages written between them
                    conn.execute("BEGIN IMMEDIATE")
                    send(rng.randint(0, 5))
                    conn.execute(
                        "INSERT INTO messages_fts(messages_fts, rank) VALUES ('merge', -8)"
                    )
                    conn.execute("COMMIT")
    except sqlite3.DatabaseError as e:
        assert "malformed" in str(e), e
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        return int(conn.execute("SELECT count(*) FROM messages").fetchone()[0])
    finally:
        conn.close()
    pytest.skip(f"SQLite {sqlite3.sqlite_version} no longer corrupts the index this way")


async def test_the_upgrade_rebuilds_a_corrupt_search_index(tmp_path: Path) -> None:
    path = tmp_path / "pychat.db"
    held = corrupt_index(path)
    with sqlite3.connect(path) as broken, pytest.raises(sqlite3.DatabaseError):
        broken.execute(
            "INSERT INTO messages(room_id, author_id, body, created_at) VALUES (1, 1, 'x', 0)"
        )

    db = SqliteDatabase(path)
    await db.open()  # migrates to 16
    try:

        async def send(tx: Tx) -> None:
            await tx.execute(
                "INSERT INTO messages(room_id, author_id, body, created_at)"
                " VALUES (1, 1, 'after the repair', 1)"
            )

        await db.write(send)
        found = await db.fetchone(
            "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'soak'"
        )
        live = await db.fetchone("SELECT count(*) FROM messages WHERE body LIKE '%soak%'")
        assert found is not None and live is not None
        assert found[0] == live[0] > held // 2  # every message with the word, none without
        repair = await db.fetchone(
            "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'repair'"
        )
        assert repair is not None and repair[0] == 1

        async def check(tx: Tx) -> None:
            await tx.execute(
                "INSERT INTO messages_fts(messages_fts, rank) VALUES ('integrity-check', 1)"
            )

        await db.write(check)
    finally:
        await db.close()


async def test_the_running_writer_rebuilds_an_index_that_breaks_under_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The soak's failure, through the server's own writer: the step-by-step merges break
    # the index while messages are sent. The send that finds it broken is not failed: the
    # index is rebuilt and the send retried, so every acknowledged message is there and found.
    db = SqliteDatabase(tmp_path / "pychat.db", synchronous="NORMAL")
    await db.open()
    rng = random.Random(1)
    sent = 0

    def send(tx: SyncTx, count: int, merge: bool = False) -> None:
        nonlocal sent
        for _ in range(count):
            sent += 1
            tx.execute(
                "INSERT INTO messages(room_id, author_id, body, created_at) VALUES (1, 1, ?, ?)",
                (f"tok{sent} soak message {sent} k{rng.randrange(60)}", sent),
            )
        if merge:
            tx.execute(MERGE_STEP)

    try:
        await db.write_sync(
            lambda tx: tx.execute(
                "INSERT INTO users(username, display_name, password_hash, created_at)"
                " VALUES ('a', 'a', 'x', 0)"
            )
        )
        await db.write_sync(
            lambda tx: tx.execute(
                "INSERT INTO rooms(kind, name, created_at) VALUES ('channel', 'general', 0)"
            )
        )
        while REBUILT not in caplog.text:
            if sent > 60_000:
                pytest.skip(f"SQLite {sqlite3.sqlite_version} no longer corrupts the index")
            await db.write_sync(lambda tx: send(tx, rng.randint(1, 20)))
            if rng.random() < 0.1:
                for _ in range(20):
                    await db.write_sync(lambda tx: send(tx, rng.randint(0, 5), merge=True))
        await db.write_sync(lambda tx: send(tx, 1))

        stored = await db.fetchone("SELECT count(*), max(created_at) FROM messages")
        found = await db.fetchone(
            "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'soak'"
        )
        assert stored is not None and found is not None
        assert stored[0] == stored[1] == sent == found[0]  # every send kept and found
        await db.write_sync(
            lambda tx: tx.execute(
                "INSERT INTO messages_fts(messages_fts, rank) VALUES ('integrity-check', 1)"
            )
        )
    finally:
        await db.close()
