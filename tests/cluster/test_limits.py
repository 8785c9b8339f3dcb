"""Rate limits shared by the nodes through Redis hold under parallel attempts from several
processes at once, forgive what succeeded, and keep Redis's memory bounded."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as redis

from appliance.cluster.limits import PREFIX, SharedFailureWindow, SharedTokenBuckets
from tests.engines import RedisServer
from tests.server import child_env

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def client(redis_server: RedisServer) -> AsyncIterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server.url)
    yield client
    await client.aclose()


async def allowed_on_nodes(url: str, kind: str, key: str, nodes: int, each: int) -> list[int]:
    """Each of `nodes` processes makes `each` attempts at once; how many each was allowed."""
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.cluster.limits_node",
            url,
            kind,
            key,
            str(each),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            env=child_env(),
        )
        for _ in range(nodes)
    ]
    outputs = await asyncio.wait_for(asyncio.gather(*(p.communicate() for p in processes)), 60)
    assert all(p.returncode == 0 for p in processes)
    return [int(out) for out, _ in outputs]


async def test_a_login_limit_holds_across_four_nodes_attempting_at_once(
    redis_server: RedisServer,
) -> None:
    key = f"198.51.100.{uuid.uuid4().int % 250}"
    allowed = await allowed_on_nodes(redis_server.url, "window", key, nodes=4, each=50)
    assert sum(allowed) == 10  # the limit, not 10 per node


async def test_a_send_burst_holds_across_four_nodes_taking_at_once(
    redis_server: RedisServer,
) -> None:
    key = f"user-{uuid.uuid4().hex}"
    allowed = await allowed_on_nodes(redis_server.url, "bucket", key, nodes=4, each=50)
    assert sum(allowed) == 20  # the burst, not 20 per node


async def test_a_forgiven_attempt_is_given_back_and_blocked_keys_say_how_long(
    client: redis.Redis,
) -> None:
    window = SharedFailureWindow(client, "login", limit=3, window_s=600)
    key = uuid.uuid4().hex
    attempts = [await window.attempt(key) for _ in range(3)]
    assert [a.wait for a in attempts] == [0, 0, 0]
    blocked = await window.attempt(key)
    assert 0 < blocked.wait <= 600
    assert await window.count(key) == 3  # the refused attempt is not counted
    await window.forgive(key, attempts[1])  # that one succeeded
    assert (await window.attempt(key)).wait == 0
    await window.clear(key)
    assert await window.retry_after(key) == 0


async def test_failures_stamped_in_the_future_count_as_now(client: redis.Redis) -> None:
    window = SharedFailureWindow(client, "login", limit=2, window_s=60)
    key = uuid.uuid4().hex
    now = float((await client.time())[0])
    # As if Redis's clock had been an hour ahead when these were counted.
    await client.zadd(PREFIX + "login:" + key, {"a": now + 3600, "b": now + 3600})
    wait = await window.retry_after(key)
    assert 0 < wait <= 61  # blocked for the window from now, not for an hour more


async def test_every_key_expires_so_memory_is_bounded_by_recent_attempts(
    client: redis.Redis,
) -> None:
    window = SharedFailureWindow(client, "login", limit=5, window_s=30)
    buckets = SharedTokenBuckets(client, "send", rate=10, burst=20)
    key = uuid.uuid4().hex
    await window.attempt(key)
    await window.fail(key)
    await buckets.take(key)
    assert 0 < await client.pttl(PREFIX + "login:" + key) <= 30_000
    assert 0 < await client.pttl(PREFIX + "send:" + key) <= 3_000  # a full bucket and 1 s


async def test_takes_asked_together_each_count_once_in_order(client: redis.Redis) -> None:
    """A node sends the takes of one turn of its loop in one script call (more than fit in
    one: several): each key still allows exactly its burst, the first comers first."""
    buckets = SharedTokenBuckets(client, "send", rate=0.001, burst=20)
    keys = [uuid.uuid4().hex for _ in range(3)]
    asked = [keys[i % 3] for i in range(300)]  # 100 takes per key, 300 at once
    waits = await asyncio.gather(*(buckets.take(key) for key in asked))
    for key in keys:
        mine = [w for k, w in zip(asked, waits, strict=True) if k == key]
        assert mine[:20] == [0.0] * 20
        assert all(w > 0 for w in mine[20:])
