"""The writer's group commit on a real database: jobs queued while a batch runs commit
together; a job that fails is undone alone while the rest of its batch commits (one that
failed before it wrote costs the others nothing: each runs once); events are published
after the commit, in seq order; jobs run in the writer's thread (`write_sync`) and
coroutine jobs (`write`) mix in one batch in queue order; a caller hears back only once
its write is durable."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from appliance.db import Event, SqliteDatabase, SyncTx, Tx
from appliance.errors import BadRequest


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[SqliteDatabase]:
    database = SqliteDatabase(tmp_path / "pychat.db")
    await database.open()

    async def scratch(tx: Tx) -> None:
        await tx.execute("CREATE TABLE scratch(name TEXT NOT NULL UNIQUE)")

    await database.write(scratch)
    yield database
    await database.close()


def published(db: SqliteDatabase) -> list[Event]:
    out: list[Event] = []
    db.on_commit = out.extend
    return out


async def in_one_batch(db: SqliteDatabase, writes: list[Awaitable[Any]]) -> list[Any]:
    """Start `writes` while the writer is held by a job of its own, so they all wait in
    its queue and make the next batch together."""
    hold, held = asyncio.Event(), asyncio.Event()

    async def holder(tx: Tx) -> None:
        held.set()
        await hold.wait()

    holding = asyncio.ensure_future(db.write(holder))
    await held.wait()
    tasks = [asyncio.ensure_future(w) for w in writes]
    await asyncio.sleep(0)  # one turn: each task puts its job in the queue on its first step
    assert db._queue.qsize() == len(writes)
    hold.set()
    await holding
    return await asyncio.gather(*tasks, return_exceptions=True)


def names(db: SqliteDatabase) -> list[str]:
    con = sqlite3.connect(db.path)  # a connection of its own: sees committed rows only
    try:
        return [r[0] for r in con.execute("SELECT name FROM scratch ORDER BY rowid")]
    finally:
        con.close()


def counting(
    runs: dict[str, int], name: str, *, fail_before: bool = False, fail_after: bool = False
) -> Callable[[SyncTx], str]:
    def job(tx: SyncTx) -> str:
        runs[name] = runs.get(name, 0) + 1
        if fail_before:
            raise BadRequest(f"{name} fails its check")
        tx.execute("INSERT INTO scratch(name) VALUES (?)", (name,))
        tx.emit("test", None, {"name": name}, 0)
        if fail_after:
            raise BadRequest(f"{name} fails after writing")
        return name

    return job


async def test_a_job_failing_its_check_fails_alone_and_its_batch_runs_once(
    db: SqliteDatabase,
) -> None:
    events = published(db)
    runs: dict[str, int] = {}
    results = await in_one_batch(
        db,
        [
            db.write_sync(counting(runs, "a")),
            db.write_sync(counting(runs, "b", fail_before=True)),
            db.write_sync(counting(runs, "c")),
        ],
    )
    assert results[0] == "a" and results[2] == "c"
    assert isinstance(results[1], BadRequest)
    assert names(db) == ["a", "c"]
    assert runs == {"a": 1, "b": 1, "c": 1}  # nothing was redone
    assert [e.data_json for e in events] == ['{"name":"a"}', '{"name":"c"}']
    assert events[1].seq == events[0].seq + 1
    assert db.published_seq == events[1].seq


async def test_a_job_failing_after_it_wrote_is_undone_alone(db: SqliteDatabase) -> None:
    events = published(db)
    runs: dict[str, int] = {}
    results = await in_one_batch(
        db,
        [
            db.write_sync(counting(runs, "a")),
            db.write_sync(counting(runs, "b", fail_after=True)),
            db.write_sync(counting(runs, "c")),
        ],
    )
    assert results[0] == "a" and results[2] == "c"
    assert isinstance(results[1], BadRequest)
    assert names(db) == ["a", "c"]
    assert [e.data_json for e in events] == ['{"name":"a"}', '{"name":"c"}']
    assert [e.seq for e in events] == sorted(e.seq for e in events)
    assert db.published_seq == events[-1].seq


async def test_a_duplicate_fails_alone_in_its_batch(db: SqliteDatabase) -> None:
    """A statement error (a UNIQUE clash) inside a job: the job's earlier writes go too."""

    def twice(tx: SyncTx) -> None:
        tx.execute("INSERT INTO scratch(name) VALUES ('twice-1')")
        tx.execute("INSERT INTO scratch(name) VALUES ('x')")
        tx.execute("INSERT INTO scratch(name) VALUES ('x')")

    runs: dict[str, int] = {}
    results = await in_one_batch(db, [db.write_sync(counting(runs, "a")), db.write_sync(twice)])
    assert results[0] == "a"
    assert isinstance(results[1], sqlite3.IntegrityError)
    assert names(db) == ["a"]


async def test_thread_jobs_and_coroutine_jobs_share_a_batch_in_queue_order(
    db: SqliteDatabase,
) -> None:
    events = published(db)
    threads: list[int] = []

    def in_thread(name: str) -> Callable[[SyncTx], None]:
        def job(tx: SyncTx) -> None:
            threads.append(threading.get_ident())
            tx.execute("INSERT INTO scratch(name) VALUES (?)", (name,))
            tx.emit("test", None, {"name": name}, 0)

        return job

    def on_loop(name: str, *, fail: bool = False) -> Callable[[Tx], Awaitable[None]]:
        async def job(tx: Tx) -> None:
            await tx.execute("INSERT INTO scratch(name) VALUES (?)", (name,))
            await tx.emit("test", None, {"name": name}, 0)
            if fail:
                raise BadRequest(f"{name} fails")

        return job

    results = await in_one_batch(
        db,
        [
            db.write_sync(in_thread("t1")),
            db.write_sync(in_thread("t2")),
            db.write(on_loop("c1")),
            db.write_sync(in_thread("t3")),
            db.write(on_loop("c2", fail=True)),
            db.write(on_loop("c3")),
        ],
    )
    assert [type(r).__name__ for r in results] == [
        "NoneType", "NoneType", "NoneType", "NoneType", "BadRequest", "NoneType"
    ]  # fmt: skip
    assert names(db) == ["t1", "t2", "c1", "t3", "c3"]
    assert [e.data_json for e in events] == [
        '{"name":"t1"}', '{"name":"t2"}', '{"name":"c1"}', '{"name":"t3"}', '{"name":"c3"}'
    ]  # fmt: skip
    assert [e.seq for e in events] == sorted(e.seq for e in events)
    assert threading.get_ident() not in threads


async def test_a_caller_hears_back_only_once_its_write_is_durable(db: SqliteDatabase) -> None:
    seen: list[list[str]] = []
    events = published(db)

    def job(tx: SyncTx) -> int:
        tx.execute("INSERT INTO scratch(name) VALUES ('durable')")
        tx.emit("test", None, {}, 0)
        return tx.events[-1].seq

    async def writer() -> None:
        seq = await db.write_sync(job)
        seen.append(names(db))  # committed, as another connection sees it
        assert [e.seq for e in events] == [seq]  # published before the caller heard

    await writer()
    assert seen == [["durable"]]


async def test_a_failing_hold_or_release_still_publishes_and_answers(db: SqliteDatabase) -> None:
    """The hub's hold (before_publish) and release (on_settled) are guarded on their own: if
    either raises, the batch's events still reach the sockets and its callers their replies,
    and the writer goes on with the next batch."""
    events = published(db)

    def broken(*_: object) -> None:
        raise RuntimeError("hub broken")

    db.before_publish = broken
    db.on_settled = broken
    runs: dict[str, int] = {}
    assert await asyncio.wait_for(db.write_sync(counting(runs, "a")), 10) == "a"
    assert await asyncio.wait_for(db.write_sync(counting(runs, "b")), 10) == "b"
    assert [e.data_json for e in events] == ['{"name":"a"}', '{"name":"b"}']
    assert names(db) == ["a", "b"]
