"""Taking a group commit's jobs from a writer's queue: what both writers (SQLite's in
`db.py`, a cluster node's in `cluster/writer.py`) do between two commits."""

from __future__ import annotations

import asyncio
from typing import TypeVar

T = TypeVar("T")


async def next_batch(
    queue: asyncio.Queue[T | None], limit: int | None = None
) -> tuple[list[T], bool]:
    """Wait for the first job, then take every one queued behind it (up to `limit`), without
    waiting again; and whether the stop mark (None) came among them."""
    batch: list[T] = []
    stopping = False
    item = await queue.get()
    while True:
        if item is None:
            stopping = True
        else:
            batch.append(item)
        if queue.empty() or (limit is not None and len(batch) >= limit):
            return batch, stopping
        item = queue.get_nowait()
