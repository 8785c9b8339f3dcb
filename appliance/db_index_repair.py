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

import sqlite3
import time
from collections.abc import Callable
from typing import Any

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


class RebuildGate:
    """At most one rebuild per REBUILD_INTERVAL_S: a second corruption soon after is answered
    with the error instead of rebuilding in a loop."""

    def __init__(self) -> None:
        self._last: float | None = None

    def allow(self) -> bool:
        now = time.monotonic()
        if self._last is not None and now - self._last < REBUILD_INTERVAL_S:
            return False
        self._last = now
        return True
