"""A node hammering the shared limits (test_limits.py): `python -m tests.cluster.limits_node
URL KIND KEY N` makes N attempts at once and prints how many were allowed."""

from __future__ import annotations

import asyncio
import sys

import redis.asyncio as redis

from appliance.cluster.limits import SharedFailureWindow, SharedTokenBuckets


async def main(url: str, kind: str, key: str, attempts: int) -> None:
    client = redis.Redis.from_url(url)
    try:
        if kind == "window":
            window = SharedFailureWindow(client, "login", limit=10, window_s=600)
            waits = [a.wait for a in await asyncio.gather(
                *(window.attempt(key) for _ in range(attempts))
            )]  # fmt: skip
        else:
            buckets = SharedTokenBuckets(client, "send", rate=0.001, burst=20)
            waits = await asyncio.gather(*(buckets.take(key) for _ in range(attempts)))
        print(sum(1 for w in waits if w == 0))
    finally:
        await client.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
