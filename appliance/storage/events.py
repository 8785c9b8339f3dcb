"""Reading the event log (writing happens through `Tx.emit`)."""

from __future__ import annotations

from ..db import Event
from . import Reader


async def head(db: Reader) -> int:
    row = await db.fetchone("SELECT coalesce(max(seq), 0) FROM events")
    return int(row[0]) if row else 0


async def after(db: Reader, seq: int, limit: int) -> list[Event]:
    rows = await db.fetchall(
        "SELECT seq, kind, room_id, user_id, data, created_at FROM events WHERE seq > ?"
        " ORDER BY seq LIMIT ?",
        (seq, limit),
    )
    return [Event(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]
