"""The PostgreSQL event log: positions in commit order, so no reader ever skips one."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import pytest

from appliance.cluster import event_log
from appliance.cluster.event_log import Draft
from appliance.cluster.postgres import connect_pool, migration_scripts
from tests.waiting import wait_until


def draft(text: str) -> Draft:
    return Draft("message.new", 1, None, json.dumps({"body": text}), 1_700_000_000_000)


async def waits_for_a_lock(pool: asyncpg.Pool, pid: int) -> bool:
    kind = await pool.fetchval("SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1", pid)
    return bool(kind == "Lock")


async def test_a_writer_waits_for_the_one_before_it_to_commit_so_no_reader_skips_an_event(
    pool: asyncpg.Pool,
) -> None:
    async with pool.acquire() as first, pool.acquire() as second:
        first_tx = first.transaction()
        await first_tx.start()
        assert (await event_log.emit(first, draft("first"))).seq == 1

        second_tx = second.transaction()
        await second_tx.start()
        second_emit = asyncio.create_task(event_log.emit(second, draft("second")))
        await wait_until(
            lambda: waits_for_a_lock(pool, second.get_server_pid()),
            what="the second writer waits for the first one's commit",
        )
        assert await event_log.after(pool, 0, 10) == []

        await first_tx.commit()
        assert (await asyncio.wait_for(second_emit, 10)).seq == 2
        # Position 2 is taken but not committed: a reader sees 1 alone, then 2 after it.
        assert [e.seq for e in await event_log.after(pool, 0, 10)] == [1]
        assert await event_log.head(pool) == 1
        await second_tx.commit()
        assert [e.seq for e in await event_log.after(pool, 1, 10)] == [2]
        assert await event_log.head(pool) == 2


async def test_a_sequence_taken_inside_a_transaction_would_let_a_reader_skip_an_event(
    pool: asyncpg.Pool,
) -> None:
    """Why the log does not use a sequence (docs/architecture.md): this is the failure."""
    await pool.execute("CREATE SEQUENCE naive_seq; CREATE TABLE naive_log (seq bigint)")
    async with pool.acquire() as first, pool.acquire() as second:
        first_tx = first.transaction()
        await first_tx.start()
        await first.execute("INSERT INTO naive_log VALUES (nextval('naive_seq'))")
        async with second.transaction():
            await second.execute("INSERT INTO naive_log VALUES (nextval('naive_seq'))")
        read = [r[0] for r in await pool.fetch("SELECT seq FROM naive_log ORDER BY seq")]
        assert read == [2]
        await first_tx.commit()
    later = [r[0] for r in await pool.fetch("SELECT seq FROM naive_log WHERE seq > 2")]
    assert later == []  # a reader at 2 never gets 1


async def test_a_writer_that_rolls_back_leaves_no_gap(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        with pytest.raises(RuntimeError):
            async with conn.transaction():
                await event_log.emit(conn, draft("never"))
                raise RuntimeError("the job failed")
        async with conn.transaction():
            kept = await event_log.emit(conn, draft("kept"))
    assert kept.seq == 1
    assert [(e.seq, e.data_json) for e in await event_log.after(pool, 0, 10)] == [
        (1, kept.data_json)
    ]


async def test_events_keep_their_order_and_their_text_byte_for_byte(pool: asyncpg.Pool) -> None:
    drafts = [
        Draft("message.new", 7, None, '{"body":"héllo 👋","n":1}', 10),
        Draft("member.leave", 7, 42, '{ "spaced" : [1, 2] }', 11),
        Draft("room.new", None, None, "{}", 12),
    ]
    async with pool.acquire() as conn, conn.transaction():
        written = await event_log.emit_many(conn, drafts)
    assert [e.seq for e in written] == [1, 2, 3]
    read = await event_log.after(pool, 0, 10)
    assert read == written
    assert [(e.kind, e.room_id, e.user_id, e.data_json, e.created_at) for e in read] == drafts
    assert [e.seq for e in await event_log.after(pool, 1, 1)] == [2]  # paged


async def test_nodes_starting_together_migrate_the_database_once(database_url: str) -> None:
    pools = await asyncio.gather(*(connect_pool(database_url) for _ in range(4)))
    try:
        versions = [r[0] for r in await pools[0].fetch("SELECT version FROM schema_version")]
        assert sorted(versions) == [v for v, _ in migration_scripts()]
        assert await event_log.head(pools[0]) == 0
    finally:
        await asyncio.gather(*(p.close() for p in pools))
