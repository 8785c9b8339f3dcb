"""What deciding on a notification needs to read: one message with its room and author,
whom it mentions, who has still not read it, their time zones and unread totals."""

from __future__ import annotations

from collections.abc import Sequence

from ..engine import Row
from . import Reader, placeholders
from .rooms import UNREAD_CAP

_CHUNK = 500


async def message(db: Reader, message_id: int) -> Row | None:
    return await db.fetchone(
        "SELECT m.id, m.room_id, m.thread_id, m.author_id, m.body, m.deleted, m.mention_room,"
        " m.call, r.kind AS room_kind, r.name AS room_name, u.display_name AS author_name"
        " FROM messages m JOIN rooms r ON r.id = m.room_id JOIN users u ON u.id = m.author_id"
        " WHERE m.id = ?",
        (message_id,),
    )


async def mentioned(db: Reader, message_id: int) -> set[int]:
    rows = await db.fetchall("SELECT user_id FROM mentions WHERE message_id = ?", (message_id,))
    return {int(r[0]) for r in rows}


async def members(db: Reader, room_id: int) -> list[int]:
    rows = await db.fetchall("SELECT user_id FROM members WHERE room_id = ?", (room_id,))
    return [int(r[0]) for r in rows]


async def not_read(
    db: Reader, message_id: int, room_id: int, thread_id: int | None, user_ids: Sequence[int]
) -> set[int]:
    """Those of `user_ids` whose marker (the room's, or the thread's for a reply) is still
    before the message: nobody saw it on any of her devices."""
    found: set[int] = set()
    ids = list(user_ids)
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        marks = placeholders(len(chunk))
        if thread_id is None:
            rows = await db.fetchall(
                f"SELECT user_id, message_id FROM read_markers WHERE room_id = ?"
                f" AND user_id IN ({marks})",
                (room_id, *chunk),
            )
        else:
            rows = await db.fetchall(
                f"SELECT user_id, message_id FROM thread_reads WHERE root_id = ?"
                f" AND user_id IN ({marks})",
                (thread_id, *chunk),
            )
        seen = {int(r[0]) for r in rows if int(r[1]) >= message_id}
        found.update(u for u in chunk if u not in seen)
    return found


async def timezones(db: Reader, user_ids: Sequence[int]) -> dict[int, str | None]:
    found: dict[int, str | None] = {}
    ids = list(user_ids)
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        rows = await db.fetchall(
            f"SELECT id, timezone FROM users WHERE id IN ({placeholders(len(chunk))})"
            " AND deactivated = 0 AND system = 0",
            chunk,
        )
        found.update({int(r[0]): r[1] for r in rows})
    return found


async def unread_total(db: Reader, user_id: int) -> int:
    """Timeline messages by others after her read marker, over all her rooms (the badge),
    counted up to UNREAD_CAP as a room's are: someone who never read a big room costs a
    thousand index entries per push, not the room's history."""
    row = await db.fetchone(
        "SELECT count(*) FROM (SELECT 1 FROM members mb JOIN messages m"
        " ON m.room_id = mb.room_id AND m.thread_id IS NULL AND m.deleted = 0"
        " AND m.author_id != mb.user_id"
        " AND m.id > coalesce((SELECT rm.message_id FROM read_markers rm"
        "  WHERE rm.room_id = mb.room_id AND rm.user_id = mb.user_id), 0)"
        f" WHERE mb.user_id = ? LIMIT {UNREAD_CAP}) AS capped",
        (user_id,),
    )
    return int(row[0]) if row else 0
