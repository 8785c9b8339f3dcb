"""Rebuilding the search index (`messages_fts`) while the server runs, when FTS5 says it is
corrupt.

SQLite 3.40's FTS5 can break its own index under heavy writing (issue 19; a long soak broke
it at 241,750 messages). From then on every statement that touches the index fails with
SQLITE_CORRUPT_VTAB ("database disk image is malformed", "vtable constructor failed"):
every send, edit, delete and search. The rest of the database is sound, and the index is
derived data, so it is built again from `messages` and the failed write is retried.

A corrupt index cannot be dropped (its constructor fails on the broken structure record),
so its rows are emptied and its structure record written empty, which FTS5 reads as an
empty index, and then it is rebuilt (as migration 0016 did at an upgrade).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from .db import SyncTx

log = logging.getLogger(__name__)

# Between two rebuilds: an index that breaks again at once is not this bug (a disk going
# bad), and rebuilding a million messages takes a Pi tens of seconds.
REBUILD_INTERVAL_S = 300.0

_REBUILD = (
    "DELETE FROM messages_fts_data",
    "DELETE FROM messages_fts_idx",
    "DELETE FROM messages_fts_docsize",
    "INSERT INTO messages_fts_data(id, block) VALUES (10, X'')",
    "INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')",
)


def index_broken(error: BaseException) -> bool:
    """Whether the error is a virtual table (the search index, the only one) found corrupt."""
    return getattr(error, "sqlite_errorname", "") == "SQLITE_CORRUPT_VTAB"


def rebuild(execute: Callable[[str], Any]) -> None:
    """The index emptied and built again from the messages, inside the caller's transaction."""
    for statement in _REBUILD:
        execute(statement)


def rebuild_alone(conn: sqlite3.Connection) -> float:
    """`rebuild` in a transaction of its own (none may be open); returns the seconds it took."""
    started = time.monotonic()
    conn.execute("BEGIN IMMEDIATE")
    try:
        rebuild(conn.execute)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return time.monotonic() - started


class IndexRepairs:
    """The rebuilds so far (`generation`) and what a failed statement calls for: an operation
    that began before the last rebuild is retried as it is; one that found the rebuilt index
    broken again within REBUILD_INTERVAL_S is answered with its error (a disk going bad, not
    this bug: rebuilding in a loop would not help)."""

    def __init__(self) -> None:
        self.generation = 0  # rebuilds since the server started
        self.last_rebuilt_ms: int | None = None  # wall clock, for the admin's storage page
        self._finished_at: float | None = None
        self._pending: asyncio.Future[None] | None = None  # a read's rebuild, queued

    def wanted(self, error: BaseException, since: int) -> Literal["retry", "rebuild", "fail"]:
        """For `error`, from an operation that began at generation `since`."""
        if not index_broken(error):
            return "fail"
        if since != self.generation:
            return "retry"
        finished = self._finished_at
        if finished is not None and time.monotonic() - finished < REBUILD_INTERVAL_S:
            return "fail"
        return "rebuild"

    def rebuilt(self) -> None:
        self.generation += 1
        self.last_rebuilt_ms = int(time.time() * 1000)
        self._finished_at = time.monotonic()

    def to_api(self) -> dict[str, int | None]:
        return {"rebuilds": self.generation, "last_rebuilt_at": self.last_rebuilt_ms}

    async def after_write(
        self,
        error: BaseException,
        since: int,
        in_writer: Callable[[Callable[[sqlite3.Connection], float]], Awaitable[float]],
    ) -> bool:
        """Whether the failed write should run again; rebuilds first when it must, through
        `in_writer` (runs a function on the writer's connection, no transaction open)."""
        wanted = self.wanted(error, since)
        if wanted != "rebuild":
            return wanted == "retry"
        log.warning("the search index is corrupt (%s): rebuilding it from the messages", error)
        try:
            seconds = await in_writer(rebuild_alone)
        except sqlite3.Error:
            log.exception("rebuilding the search index failed")
            return False
        self.rebuilt()
        log.warning("the search index was rebuilt in %.1f s", seconds)
        return True

    async def after_read(
        self,
        error: BaseException,
        since: int,
        write_sync: Callable[[Callable[[SyncTx], float | None]], Awaitable[float | None]],
    ) -> bool:
        """Whether the failed read should be asked again; rebuilds first when it must, as a
        write (in order with the others). Reads failing together wait for one rebuild."""
        if self._pending is None:
            wanted = self.wanted(error, since)
            if wanted != "rebuild":
                return wanted == "retry"
            log.warning("the search index is corrupt (%s): rebuilding it from the messages", error)
            self._pending = asyncio.ensure_future(self._rebuild_as_write(write_sync))
        elif not index_broken(error):
            return False
        try:
            await asyncio.shield(self._pending)
        except sqlite3.Error:
            return False
        return True

    async def _rebuild_as_write(
        self, write_sync: Callable[[Callable[[SyncTx], float | None]], Awaitable[float | None]]
    ) -> None:
        queued_at = self.generation

        def rebuild_unless_done(tx: SyncTx) -> float | None:
            if self.generation != queued_at:  # a write's rebuild ran first
                return None
            started = time.monotonic()
            rebuild(tx.execute)
            return time.monotonic() - started

        try:
            seconds = await write_sync(rebuild_unless_done)
        except sqlite3.Error:
            log.exception("rebuilding the search index failed")
            raise
        finally:
            self._pending = None
        if seconds is not None:
            self.rebuilt()  # once committed: a read begun from now on sees the new index
            log.warning("the search index was rebuilt in %.1f s", seconds)
