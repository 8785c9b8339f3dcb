"""Email (issue 16): people's addresses and digest opt-outs, what each digest has covered,
and the messages a digest may hold."""

from __future__ import annotations

from ..db import Tx
from ..engine import Row
from . import Reader
from .dialect import nocase_equals, spelled

# A person's row for mail: her address, opt-out, time zone (quiet hours), display name.
_PERSON = "id, username, display_name, email, email_digest, timezone, deactivated"


async def address_of(db: Reader, user_id: int) -> Row | None:
    return await db.fetchone(f"SELECT {_PERSON} FROM users WHERE id = ?", (user_id,))


async def set_address(tx: Tx, user_id: int, email: str | None, digest: bool) -> None:
    await tx.execute(
        "UPDATE users SET email = ?, email_digest = ? WHERE id = ?",
        (email, int(digest), user_id),
    )


async def people_with_address(db: Reader, email: str, limit: int) -> list[Row]:
    """Active people (never a system account) whose address is this one, any case."""
    return await db.fetchall(
        f"SELECT {_PERSON} FROM users WHERE {nocase_equals(db, 'email')}"
        " AND deactivated = 0 AND system = 0 ORDER BY id LIMIT ?",
        (email, limit),
    )


async def digest_readers(db: Reader, below: int) -> list[Row]:
    """People who want digests and whose mark is below message id `below`, with the mark."""
    return await db.fetchall(
        f"SELECT {', '.join('u.' + c.strip() for c in _PERSON.split(','))},"
        " coalesce(k.message_id, 0) AS mark"
        " FROM users u LEFT JOIN mail_digest_marks k ON k.user_id = u.id"
        " WHERE u.email IS NOT NULL AND u.email_digest = 1 AND u.deactivated = 0"
        " AND u.system = 0 AND coalesce(k.message_id, 0) < ?",
        (below,),
    )


async def newest_message_id(db: Reader) -> int:
    row = await db.fetchone("SELECT max(id) FROM messages")
    return int(row[0]) if row is not None and row[0] is not None else 0


# Marks never move back (either engine: SQLite has no greatest(), PostgreSQL no max(a, b)).
_LATER_MARK = (
    "message_id = CASE WHEN excluded.message_id > mail_digest_marks.message_id"
    " THEN excluded.message_id ELSE mail_digest_marks.message_id END"
)


async def set_mark(tx: Tx, user_id: int, message_id: int) -> None:
    """Her digests have covered every message up to `message_id` (never moved back)."""
    await tx.execute(
        "INSERT INTO mail_digest_marks(user_id, message_id) VALUES (?, ?)"
        f" ON CONFLICT(user_id) DO UPDATE SET {_LATER_MARK}",
        (user_id, message_id),
    )


async def start_marks_at(tx: Tx, message_id: int) -> None:
    """Digests start now for everyone: mail just set up never mails an old backlog."""
    await tx.execute(
        "INSERT INTO mail_digest_marks(user_id, message_id)"
        " SELECT id, ? FROM users WHERE system = 0"
        f" ON CONFLICT(user_id) DO UPDATE SET {_LATER_MARK}",
        (message_id,),
    )


async def unread_candidates(
    db: Reader, user_id: int, after: int, through: int, limit: int, *, any_room_message: bool
) -> list[Row]:
    """Messages in her rooms with `after < id <= through`, by others, not deleted, that she
    has not read (the room's marker for top-level messages, the thread's for replies): in a
    DM, or mentioning her (by name or @room), or any when she has keywords to match. Of the
    call records the server writes, only missed calls."""
    wanted = "TRUE" if any_room_message else "(room_kind = 'direct' OR mentioned)"
    call_event = spelled(
        db, sqlite="json_extract(m.call, '$.event')", postgresql="m.call ->> 'event'"
    )
    return await db.fetchall(
        "SELECT * FROM ("
        " SELECT m.id, m.room_id, m.thread_id, m.author_id, m.body, m.created_at,"
        f"  r.kind AS room_kind, r.name AS room_name, {call_event} AS call,"
        "  a.display_name AS author_name,"
        "  (m.mention_room = 1 OR EXISTS (SELECT 1 FROM mentions x"
        "    WHERE x.message_id = m.id AND x.user_id = :me)) AS mentioned"
        " FROM members mb"
        " JOIN rooms r ON r.id = mb.room_id"
        " JOIN messages m ON m.room_id = mb.room_id AND m.id > :after AND m.id <= :through"
        " JOIN users a ON a.id = m.author_id"
        " LEFT JOIN read_markers rm ON rm.room_id = m.room_id AND rm.user_id = :me"
        " LEFT JOIN thread_reads tr ON tr.root_id = m.thread_id AND tr.user_id = :me"
        " WHERE mb.user_id = :me AND m.author_id != :me AND m.deleted = 0"
        f"  AND (m.call IS NULL OR {call_event} = 'missed')"
        "  AND (CASE WHEN m.thread_id IS NULL THEN coalesce(rm.message_id, 0)"
        "       ELSE coalesce(tr.message_id, 0) END) < m.id"
        f") AS found WHERE {wanted} ORDER BY id LIMIT :limit",
        {"me": user_id, "after": after, "through": through, "limit": limit},
    )
