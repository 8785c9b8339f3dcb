"""Presence across nodes in Redis: online while any live node holds a socket, offline when
the last goes or its node stops renewing; each change published once, in order."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis

from appliance.cluster.presence import CHANNEL, SharedPresence
from tests.engines import RedisServer
from tests.waiting import wait_until

_users = itertools.count(1000)


@pytest.fixture
async def client(redis_server: RedisServer) -> AsyncIterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server.url)
    yield client
    await client.aclose()


@pytest.fixture
async def notices(client: redis.Redis) -> AsyncIterator[list[str]]:
    """Every presence notice published while the test runs, in order."""
    heard: list[str] = []
    pubsub = client.pubsub()
    await pubsub.subscribe(CHANNEL)

    async def listen() -> None:
        async for message in pubsub.listen():
            if message["type"] == "message":
                heard.append(message["data"].decode())

    task = asyncio.create_task(listen())
    yield heard
    task.cancel()
    await pubsub.aclose()


async def test_online_while_any_node_holds_a_socket_offline_after_the_last(
    client: redis.Redis, notices: list[str]
) -> None:
    a, b = SharedPresence(client, "node-a"), SharedPresence(client, "node-b")
    ann, bob = next(_users), next(_users)
    await a.came([ann])
    await b.came([ann, bob])
    assert await a.online([ann, bob, next(_users)]) == {ann, bob}
    await a.went([ann])
    assert await b.online([ann]) == {ann}  # still on node b
    await b.went([ann])
    assert await a.online([ann, bob]) == {bob}
    await wait_until(lambda: len(notices) == 3, what="three notices")
    assert notices == [f"{ann}:1", f"{bob}:1", f"{ann}:0"]


async def test_a_node_that_stops_renewing_takes_its_people_offline(
    client: redis.Redis, notices: list[str]
) -> None:
    alive, dead = SharedPresence(client, "alive"), SharedPresence(client, "dead", ttl_s=0.5)
    kept, lost = next(_users), next(_users)
    await alive.came([kept])
    await dead.came([kept, lost])
    # The dead node never renews: once its entries expire, any node's sweep forgets them.
    await wait_until(lambda: alive.sweep(), what="the sweep finds the dead node's people")
    assert await alive.online([kept, lost]) == {kept}
    await wait_until(lambda: f"{lost}:0" in notices, what="an offline notice")
    assert notices == [f"{kept}:1", f"{lost}:1", f"{lost}:0"]


async def test_parallel_comings_and_goings_on_many_nodes_publish_alternating_changes(
    client: redis.Redis, notices: list[str]
) -> None:
    nodes = [SharedPresence(client, f"n{i}") for i in range(6)]
    user = next(_users)

    async def flicker(node: SharedPresence) -> None:
        for _ in range(20):
            await node.came([user])
            await node.went([user])

    await asyncio.gather(*(flicker(node) for node in nodes))
    assert await nodes[0].online([user]) == set()
    await wait_until(
        lambda: notices and notices[-1] == f"{user}:0", what="the last notice says offline"
    )
    states = [n.split(":")[1] for n in notices]
    assert states[0] == "1"
    assert all(x != y for x, y in itertools.pairwise(states)), "a change published twice"


async def test_a_node_that_renews_keeps_its_people_online_past_the_ttl(
    client: redis.Redis, notices: list[str]
) -> None:
    node = SharedPresence(client, "renewing", ttl_s=3.0)
    sweeper = SharedPresence(client, "sweeper")
    user = next(_users)
    await node.came([user])
    renewing = asyncio.create_task(node.run(lambda: [user]))
    try:
        await wait_until(lambda: node.renewals >= 4, what="renewals past the TTL (4 s of 3)")
        await sweeper.sweep()
        assert await sweeper.online([user]) == {user}
    finally:
        renewing.cancel()
    assert notices == [f"{user}:1"]  # never offline meanwhile


async def test_a_change_found_late_is_still_published_once(
    client: redis.Redis, notices: list[str]
) -> None:
    # A node's entry expires (its renewals stalled), then her socket there closes before
    # any sweep: she is offline, and that is said. Then she comes back on a node while a
    # dead node's expired entry is still unswept: online is said once, not twice.
    stalled = SharedPresence(client, "stalled", ttl_s=0.3)
    user = next(_users)
    await stalled.came([user])
    await wait_until(lambda: _offline(stalled, user), what="the stalled node's entry expires")
    await stalled.went([user])
    await wait_until(lambda: notices == [f"{user}:1", f"{user}:0"], what="online, then offline")

    dead, alive = SharedPresence(client, "dead", ttl_s=0.3), SharedPresence(client, "alive")
    await dead.came([user])
    await wait_until(lambda: _offline(dead, user), what="the dead node's entry expires")
    await alive.came([user])
    await alive.sweep()
    await alive.went([user])
    await wait_until(lambda: len(notices) == 4, what="four notices")
    assert notices == [f"{user}:{s}" for s in "1010"]  # online once while dead's was stale


async def _offline(node: SharedPresence, user: int) -> bool:
    return await node.online([user]) == set()
