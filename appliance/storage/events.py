"""Reading the event log (writing happens through `Tx.emit`), and redacting it."""

from __future__ import annotations

import json
from typing import Any

from ..db import Event, Tx
from . import Reader
from .dialect import spelled


async def head(db: Reader) -> int:
    row = await db.fetchone("SELECT coalesce(max(seq), 0) FROM events")
    return int(row[0]) if row else 0


async def oldest(db: Reader) -> int:
    """The oldest seq still in the log (0: none); older ones were pruned (event_retention.py)."""
    row = await db.fetchone("SELECT coalesce(min(seq), 0) FROM events")
    return int(row[0]) if row else 0


async def prune(tx: Tx, through: int, limit: int) -> int:
    """Delete up to `limit` of the oldest events with seq <= `through`; how many went."""
    row = await tx.fetchone(
        "SELECT count(*) FROM (SELECT seq FROM events WHERE seq <= ? ORDER BY seq LIMIT ?)"
        " AS oldest",
        (through, limit),
    )
    count = int(row[0]) if row else 0
    if count:
        await tx.execute(
            "DELETE FROM events WHERE seq IN"
            " (SELECT seq FROM events WHERE seq <= ? ORDER BY seq LIMIT ?)",
            (through, limit),
        )
    return count


async def after(db: Reader, seq: int, limit: int) -> list[Event]:
    rows = await db.fetchall(
        "SELECT seq, kind, room_id, user_id, data, created_at FROM events WHERE seq > ?"
        " ORDER BY seq LIMIT ?",
        (seq, limit),
    )
    return [Event(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


_REDACT_SQLITE = (
    "UPDATE events SET data = json_set(data,"
    " '$.message.body', ?, '$.message.mentions', json(?), '$.message.mention_room', json(?),"
    " '$.message.edited_at', ?, '$.message.deleted', json(?),"
    " '$.message.attachments', json(?))"
    " WHERE kind IN ('message.new', 'message.edit')"
    " AND json_extract(data, '$.message.id') = ?"
)
# The same on PostgreSQL's json column; the WHERE is its index events_message's expression.
_REDACT_POSTGRESQL = (
    "UPDATE events SET data = jsonb_set(data::jsonb, '{message}', (data::jsonb -> 'message')"
    " || jsonb_build_object('body', ?::text, 'mentions', ?::jsonb, 'mention_room', ?::jsonb,"
    " 'edited_at', ?::bigint, 'deleted', ?::jsonb, 'attachments', ?::jsonb))::json"
    " WHERE kind IN ('message.new', 'message.edit')"
    " AND ((data -> 'message' ->> 'id')::bigint) = ?"
)


async def redact_message(tx: Tx, message: dict[str, Any]) -> None:
    """Give the earlier events that carried `message` its current content, in place.

    As Matrix redactions do: each event keeps its seq, kind and everything that is not
    content (reactions and reply counts of the time), so a replay is as exact and gap-free
    as before, but no event holds text, mentions or files the message no longer has.
    The WHERE matches the partial index `events_message` (migration 0006) word for word.
    """
    await tx.execute(
        spelled(tx, sqlite=_REDACT_SQLITE, postgresql=_REDACT_POSTGRESQL),
        (
            message["body"],
            _json(message["mentions"]),
            _json(message["mention_room"]),
            message["edited_at"],
            _json(message["deleted"]),
            _json(message["attachments"]),
            message["id"],
        ),
    )
