"""Deleted means deleted: after a message is deleted or edited, its old text leaves every
place the server keeps it.

In the same transaction as the change, the earlier events that carried the message are
redacted (`storage.events.redact_message`) and its files let go (removed after the commit).
Then `scrub` purges what SQLite still holds: the words in the search index's older segments
(merged whole, in one write: see `_merge_index`) and the old pages in the
write-ahead log (checkpointed and truncated). Freed pages are zeroed (`secure_delete`), so
a backup made once the change is acknowledged holds none of the old text.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ..db import Database, Tx
from ..storage import events, search_index

log = logging.getLogger(__name__)


async def redact(tx: Tx, message: dict[str, Any]) -> None:
    """Inside the delete's or edit's write, before its own event is emitted."""
    await events.redact_message(tx, message)


class Scrubber:
    """Purges removed text from the search index and the log, one pass at a time, for one
    database (Services.scrubber)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.asked = 0  # scrubs asked for (one per committed deletion or edit)
        self.done = 0  # asked-for scrubs a finished pass covered
        self.running: asyncio.Task[bool] | None = None

    async def scrub(self) -> None:
        """Return once a pass that began after this call has purged index and log.

        Passes are shared: many deletions at once cost one or two passes, not one each. A
        failed pass (a full disk) is logged and not retried here; the next one covers it.
        """
        self.asked += 1
        mine = self.asked
        while self.done < mine:
            if self.running is None:
                self.running = asyncio.create_task(self._pass(), name="scrub")
            # Shielded: a client that goes away must not stop a pass others wait for.
            if not await asyncio.shield(self.running):
                return

    async def _pass(self) -> bool:
        covers = self.asked
        try:
            await _merge_index(self.db)
            await self.db.empty_wal()
        except Exception as e:
            log.warning("could not purge removed text from the search index and log: %s", e)
            return False
        else:
            self.done = max(self.done, covers)
            return True
        finally:
            self.running = None


async def _merge_index(db: Database) -> None:
    if db.dialect == "postgresql":
        return  # its search index is a column of the row itself (empty_wal vacuums it)
    # One write: other writes wait for the whole merge. SQLite 3.40's FTS5 corrupts the index
    # when messages are written between the steps of an incremental `('merge', -N)` (the
    # index reads "malformed" on every later send; `PRAGMA integrity_check` still says ok):
    # bench/soak.py met it after ~36,000 messages, bench/fts_merge_corruption.py reproduces
    # it with plain sqlite3. SQLite 3.50 no longer does; until Pychat runs on it, no steps.
    await db.write(search_index.optimize)
