"""The event log on PostgreSQL: appended inside the writer's transaction, read in order.

The guarantee a reader relies on (docs/architecture.md, "The log's order on several
nodes"): every snapshot of the log is a prefix of it. A node that has read up to seq P and
then reads `seq > P` never finds later that it missed an event at or below P, however many
nodes write at once. It holds because a writing transaction takes its positions by
updating the one row of `event_log_head`: the row's lock is held until that transaction
commits, and PostgreSQL makes a transaction visible before it releases its locks. So the
next writer gets the following positions only once every smaller one is committed and
visible (or rolled back, in which case its positions were never taken: no gaps either).

The cost: writers queue on that row until their commit. The writer takes it first in each
batch (`hold_head`), so that ids follow the log's order too; its events go in one statement
(`emit_many`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import asyncpg

from ..db import Event
from .postgres import Connection


class Draft(NamedTuple):
    """An event before it has a position."""

    kind: str
    room_id: int | None
    user_id: int | None
    data_json: str
    created_at: int


# One round trip: take the next positions (and with them the head's lock), insert the rows.
_EMIT_MANY = """
WITH claimed AS (
    UPDATE event_log_head SET seq = seq + cardinality($1::text[]) RETURNING seq
)
INSERT INTO events(seq, kind, room_id, user_id, data, created_at)
SELECT claimed.seq - cardinality($1::text[]) + d.n, d.kind, d.room_id, d.user_id, d.data,
       d.created_at
FROM claimed,
     unnest($1::text[], $2::bigint[], $3::bigint[], $4::json[], $5::bigint[])
         WITH ORDINALITY AS d(kind, room_id, user_id, data, created_at, n)
RETURNING seq
"""
_BETWEEN = (
    "SELECT seq, kind, room_id, user_id, data, created_at FROM events"
    " WHERE seq > $1 AND ($2::bigint IS NULL OR seq < $2) ORDER BY seq"
)
_AFTER = (
    "SELECT seq, kind, room_id, user_id, data, created_at FROM events"
    " WHERE seq > $1 ORDER BY seq LIMIT $2"
)


# First in every writing transaction (cluster/writer.py): from then until its commit no other
# node's transaction writes, so the ids that rows take from their tables' sequences (a
# message's id) rise in the log's order on every node, as they do with SQLite's one writer.
_HOLD_HEAD = "SELECT seq FROM event_log_head FOR UPDATE"


async def hold_head(conn: Connection) -> None:
    """Take the head's lock now rather than at the append (kept until the commit)."""
    await conn.execute(_HOLD_HEAD)


async def emit_many(conn: Connection, drafts: Sequence[Draft]) -> list[Event]:
    """Append `drafts` in order, inside the transaction open on `conn` (asyncpg runs a
    statement outside one in its own, which is only right for a lone append)."""
    if not drafts:
        return []
    kinds, rooms, users, data, times = zip(*drafts, strict=True)
    rows = await conn.fetch(_EMIT_MANY, kinds, rooms, users, data, times)
    seqs = sorted(int(row[0]) for row in rows)
    return [Event(seq, *draft) for seq, draft in zip(seqs, drafts, strict=True)]


async def emit(conn: Connection, draft: Draft) -> Event:
    """Append one event (see `emit_many`)."""
    return (await emit_many(conn, (draft,)))[0]


async def after(conn: Connection | asyncpg.Pool[Any], seq: int, limit: int) -> list[Event]:
    """Up to `limit` events after `seq`, in order: with the log's guarantee, a gap-free run."""
    rows = await conn.fetch(_AFTER, seq, limit)
    return [Event(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]


async def between(conn: Connection, after: int, before: int | None) -> list[Event]:
    """The committed events after `after` and before `before` (all of them if None), in
    order: with the log's guarantee, a gap-free run."""
    rows = await conn.fetch(_BETWEEN, after, before)
    return [Event(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]


async def head(conn: Connection | asyncpg.Pool[Any]) -> int:
    """The newest committed position (0: an empty log)."""
    return int(await conn.fetchval("SELECT seq FROM event_log_head"))
