"""Deletes and edits purge their words from the search index while people keep sending
(issue 19, found by bench/soak.py): SQLite 3.40's FTS5 corrupted the index when messages were
written between the steps of the scrub's incremental merge, after which every send failed
("database disk image is malformed") while `PRAGMA integrity_check` still said ok. The scrub
merges in one write now; here, on the real writer, sends keep arriving during every pass and
the index stays sound, whatever step size an older scrub used (the test shrinks it so the
old code breaks within seconds, as it did after ~32,000 messages with its own)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from appliance.chat import redaction
from appliance.db import SqliteDatabase, SyncTx

ROUNDS = 120  # deletes or edits, each with its scrub pass


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[SqliteDatabase]:
    database = SqliteDatabase(tmp_path / "pychat.db")
    await database.open()

    def people(tx: SyncTx) -> None:
        tx.execute(
            "INSERT INTO users(username, display_name, password_hash, created_at)"
            " VALUES ('a', 'a', 'x', 0)"
        )
        tx.execute("INSERT INTO rooms(kind, name, created_at) VALUES ('channel', 'general', 0)")

    await database.write_sync(people)
    yield database
    await database.close()


async def test_sends_during_every_scrub_pass_leave_the_search_index_sound(
    db: SqliteDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(redaction, "MERGE_PAGES", 8, raising=False)  # the old scrub's step
    rng = random.Random(19)
    sent = 0  # counted in the writer's thread, before the commit
    committed = 0  # ids up to here are surely in the table

    def send(count: int) -> Callable[[SyncTx], None]:
        def job(tx: SyncTx) -> None:
            nonlocal sent
            for _ in range(count):
                sent += 1
                body = (
                    f"tok{sent}x{rng.getrandbits(32):08x} message {sent} from k{rng.randrange(60)}"
                )
                tx.execute(
                    "INSERT INTO messages(room_id, author_id, body, created_at)"
                    " VALUES (1, 1, ?, ?)",
                    (body, sent),
                )

        return job

    for _ in range(40):  # history: many small commits, many index segments
        await db.write_sync(send(50))
    committed = sent

    stop = asyncio.Event()

    async def sender() -> None:
        nonlocal committed
        while not stop.is_set():
            await db.write_sync(send(rng.randint(1, 5)))
            committed = sent

    scrubber = redaction.Scrubber(db)
    sending = asyncio.create_task(sender())
    gone: list[str] = []
    try:
        for _ in range(ROUNDS):
            # not `sent`: a send may be mid-transaction in the writer's thread
            target = rng.randint(max(1, committed - 2000), committed)
            row = await db.fetchone("SELECT body FROM messages WHERE id = ?", (target,))
            assert row is not None
            if row[0].startswith("tok"):
                gone.append(row[0].split()[0])  # its unique first word

            def change(tx: SyncTx, target: int = target) -> None:
                body = "" if rng.random() < 0.5 else f"edited{target}"
                tx.execute("UPDATE messages SET body = ? WHERE id = ?", (body, target))

            await db.write_sync(change)
            await scrubber.scrub()
            assert scrubber.done == scrubber.asked  # the pass succeeded
    finally:
        stop.set()
        await sending

    def check(tx: SyncTx) -> None:  # raises "malformed" on a corrupt index
        tx.execute("INSERT INTO messages_fts(messages_fts, rank) VALUES ('integrity-check', 1)")

    await db.write_sync(check)
    await db.write_sync(send(1))  # sends still work
    for word in gone[-20:]:
        found = await db.fetchone(
            "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH ?", (f'"{word}"',)
        )
        assert found is not None and found[0] == 0, word
    assert sent > 2000
