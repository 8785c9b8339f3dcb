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


def slack_of(window: int) -> int:
    """How far past its window the log may grow between the hourly prunes: a busy hour
    (a bot, an import; bench/soak.py's million messages) must not keep a million events."""
    return max(100, window // 10)


async def prune(db: Database, window: int, slack: int = 0) -> int:
    """Delete every event more than `window` behind the head, once more than `slack` of
    them have piled up; how many went."""
    cutoff = await events.head(db) - window
    if cutoff <= 0 or await events.oldest(db) > cutoff - slack:
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
