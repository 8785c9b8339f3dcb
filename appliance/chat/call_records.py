"""Calls leave a trace: the lines the server writes into a room's timeline when a call
starts, ends (with its duration) or was missed (docs/api/calls.md, "In the timeline").

A record is a message with a `call` object and an empty body, authored by whoever started
the call, so it replays, pages and counts as activity like any message, but never mentions
anyone and is never found by search.
"""

from __future__ import annotations

from typing import Any

from ..db import Database, Tx
from ..storage import messages


async def write(
    db: Database,
    room: int,
    author: int,
    call_id: int,
    event: str,
    now_ms: int,
    duration_ms: int | None = None,
    *,
    interrupted: bool = False,
) -> dict[str, Any] | None:
    """Store one record and publish it as `message.new`; None when the room keeps none."""
    record: dict[str, Any] = {"id": call_id, "event": event}
    if duration_ms is not None:
        record["duration_ms"] = duration_ms
    if interrupted:
        record["interrupted"] = True

    async def job(tx: Tx) -> dict[str, Any] | None:
        row = await messages.insert_call_record(tx, room, author, record, now_ms)
        if row is None:
            return None
        message = messages.to_api(row, reactions={}, mentions=[])
        await tx.emit("message.new", room, {"message": message}, now_ms)
        return message

    return await db.write(job)


async def close_interrupted(db: Database, now_ms: int) -> int:
    """An "ended" record, marked interrupted and without a duration (nobody knows when the
    server stopped), for each call recorded as started and never as ended or missed: the
    server stopped without ending it (a crash, kill -9, a power cut). Returns how many."""
    open_calls = await messages.unfinished_call_records(db)
    for row in open_calls:
        await write(
            db, row["room_id"], row["author_id"], int(row["call_id"]), "ended", now_ms,
            interrupted=True,
        )  # fmt: skip
    return len(open_calls)
