"""Pruning the event log to its replay window (docs/architecture.md, "The event log").

`hello` replays at most the newest `ws.replay_limit` events; a socket further behind gets
`resync` and reloads over REST. Events older than that window can never be replayed, so
they are deleted: the log stays bounded on a device that runs for years. Deleted in small
transactions, so other writes wait at most one batch. The newest events are never touched:
a socket replaying inside the window meets no gap.
"""

from __future__ import annotations

import logging

from .db import Database, Tx
from .storage import events

log = logging.getLogger(__name__)

BATCH = 5000  # events deleted per transaction (a few ms of the writer on a Pi)


async def prune(db: Database, window: int) -> int:
    """Delete every event more than `window` behind the head; how many went."""
    cutoff = await events.head(db) - window
    if cutoff <= 0 or await events.oldest(db) > cutoff:
        return 0
    total = 0
    while True:

        async def batch(tx: Tx) -> int:
            return await events.prune(tx, cutoff, BATCH)

        done = await db.write(batch)
        total += done
        if done < BATCH:
            break
    log.info("pruned %d events older than the replay window (through seq %d)", total, cutoff)
    return total
