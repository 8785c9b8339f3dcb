"""A node's follower of the PostgreSQL log, alone: it delivers in order, and a delivery that
fails stops it loudly instead of marking those events delivered."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import pytest

from appliance.cluster import event_log
from appliance.cluster.event_log import Draft
from appliance.cluster.follower import DeliveryFailed, LogFollower
from appliance.db import Event


async def append(pool: asyncpg.Pool, count: int) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await event_log.emit_many(
            conn, [Draft("note", None, None, json.dumps({"n": n}), 0) for n in range(count)]
        )


async def test_a_failed_delivery_stops_the_follower_without_skipping_what_failed(
    pool: asyncpg.Pool,
) -> None:
    delivered: list[int] = []
    fail = True

    def deliver(events: list[Event]) -> None:
        if fail:
            raise ValueError("the consumer broke")
        delivered.extend(e.seq for e in events)

    async def read_after(seq: int, limit: int) -> list[Event]:
        return await event_log.after(pool, seq, limit)

    await append(pool, 5)
    follower = LogFollower(read_after, deliver, start=0, poll_interval_s=600)
    follower.wake()
    with pytest.raises(DeliveryFailed, match="the consumer broke"):
        await asyncio.wait_for(follower.run(), 20)
    assert follower.last_seq == 0  # nothing counted as delivered

    fail = False  # a new follower from the same place gets them all
    again = LogFollower(read_after, deliver, start=follower.last_seq, poll_interval_s=600)
    again.wake()
    running = asyncio.create_task(again.run())
    try:
        await asyncio.wait_for(again.wait_for(5), 20)
    finally:
        running.cancel()
    assert delivered == [1, 2, 3, 4, 5]
