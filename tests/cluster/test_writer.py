"""A node's writer on PostgreSQL: concurrent jobs share a transaction, their events take
positions together at the commit, and a failing job fails alone."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import pytest

from appliance.cluster import event_log
from appliance.cluster.event_log import Draft
from appliance.cluster.writer import LogWriter, WriterTx
from appliance.db import Event


@pytest.fixture(autouse=True)
async def notes(pool: asyncpg.Pool) -> None:
    """What the jobs write beside their events."""
    await pool.execute("CREATE TABLE notes (job int PRIMARY KEY, txid bigint NOT NULL)")


def note_job(n: int, events: int = 2):
    async def job(tx: WriterTx) -> int:
        txid = await tx.conn.fetchval("SELECT txid_current()")
        await tx.conn.execute("INSERT INTO notes VALUES ($1, $2)", n, txid)
        for k in range(events):
            tx.emit(Draft("note", None, None, json.dumps({"job": n, "k": k}), 0))
        return n

    return job


async def test_concurrent_jobs_share_commits_and_each_gets_its_own_events_in_order(
    pool: asyncpg.Pool,
) -> None:
    announced: list[Event] = []

    async def on_commit(events: list[Event]) -> None:
        announced.extend(events)

    writer = LogWriter(pool, on_commit=on_commit)
    writer.start()
    try:
        results = await asyncio.gather(*(writer.write(note_job(n)) for n in range(50)))
    finally:
        await writer.close()
    for n, (result, events) in enumerate(results):
        assert result == n
        assert [json.loads(e.data_json) for e in events] == [{"job": n, "k": 0}, {"job": n, "k": 1}]
        assert events[1].seq == events[0].seq + 1
    log = await event_log.after(pool, 0, 1000)
    assert [e.seq for e in log] == list(range(1, 101))
    assert announced == log
    transactions = await pool.fetchval("SELECT count(DISTINCT txid) FROM notes")
    assert transactions < 50  # group commits, not one per job


async def test_a_failing_job_fails_alone_and_leaves_nothing_behind(pool: asyncpg.Pool) -> None:
    async def failing(tx: WriterTx) -> None:
        await tx.conn.execute("INSERT INTO notes VALUES (999, 0)")
        tx.emit(Draft("note", None, None, '{"job":999}', 0))
        raise ValueError("this job is refused")

    writer = LogWriter(pool)
    writer.start()
    try:
        outcomes = await asyncio.gather(
            writer.write(note_job(1)), writer.write(failing), writer.write(note_job(2)),
            return_exceptions=True,
        )  # fmt: skip
    finally:
        await writer.close()
    assert isinstance(outcomes[1], ValueError)
    assert [r for r, _ in (outcomes[0], outcomes[2])] == [1, 2]  # type: ignore[misc]
    assert sorted(r[0] for r in await pool.fetch("SELECT job FROM notes")) == [1, 2]
    log = await event_log.after(pool, 0, 1000)
    assert sorted(json.loads(e.data_json)["job"] for e in log) == [1, 1, 2, 2]
    assert [e.seq for e in log] == [1, 2, 3, 4]  # the rolled-back batch left no hole


async def test_a_stopped_writer_refuses_work_instead_of_hanging(pool: asyncpg.Pool) -> None:
    writer = LogWriter(pool)
    writer.start()
    await writer.close()
    with pytest.raises(RuntimeError, match="not running"):
        await writer.write(note_job(1))


async def test_a_job_that_swallows_a_database_error_is_not_told_it_was_written(
    pool: asyncpg.Pool,
) -> None:
    """PostgreSQL aborts the transaction at a failed statement, even one the job caught:
    the writer must not report that batch as committed. Inside a savepoint it is fine."""
    await pool.execute("INSERT INTO notes VALUES (1, 0)")

    async def careless(tx: WriterTx) -> str:
        await tx.conn.execute("INSERT INTO notes VALUES (2, 0)")
        try:
            await tx.conn.execute("INSERT INTO notes VALUES (1, 0)")
        except asyncpg.UniqueViolationError:
            return "already there"
        return "written"

    async def careful(tx: WriterTx) -> str:
        await tx.conn.execute("INSERT INTO notes VALUES (3, 0)")
        try:
            async with tx.conn.transaction():  # a savepoint
                await tx.conn.execute("INSERT INTO notes VALUES (1, 0)")
        except asyncpg.UniqueViolationError:
            return "already there"
        return "written"

    writer = LogWriter(pool)
    writer.start()
    try:
        with pytest.raises(RuntimeError, match="nothing was written"):
            await writer.write(careless)
        assert (await writer.write(careful))[0] == "already there"
    finally:
        await writer.close()
    assert sorted(r[0] for r in await pool.fetch("SELECT job FROM notes")) == [1, 3]
