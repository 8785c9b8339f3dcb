"""Rooms and their members."""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from ..db import Tx
from ..engine import Row
from ..errors import Conflict
from . import Reader, placeholders
from .dialect import nocase_equals, nocase_order, spelled
from .uploads import avatar_url

COLUMNS = (
    "r.id, r.kind, r.name, r.topic, r.direct_key, r.created_by, r.created_at, r.p2p, r.avatar_hash"
)


async def insert(
    tx: Tx,
    kind: str,
    name: str,
    topic: str,
    direct_key: str | None,
    created_by: int,
    now: int,
) -> int:
    try:
        row = await tx.fetchone(
            "INSERT INTO rooms(kind, name, topic, direct_key, created_by, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            (kind, name, topic, direct_key, created_by, now),
        )
    except sqlite3.IntegrityError:
        raise Conflict("A channel with that name already exists.") from None
    assert row is not None
    return int(row[0])


async def get(db: Reader, room_id: int) -> Row | None:
    return await db.fetchone(f"SELECT {COLUMNS} FROM rooms r WHERE r.id = ?", (room_id,))


async def by_direct_key(db: Reader, key: str) -> Row | None:
    return await db.fetchone(f"SELECT {COLUMNS} FROM rooms r WHERE r.direct_key = ?", (key,))


async def channel_named(db: Reader, name: str) -> int | None:
    """The id of the channel called `name` (names compare without case), if there is one."""
    row = await db.fetchone(
        f"SELECT id FROM rooms WHERE kind = 'channel' AND {nocase_equals(db, 'name')}", (name,)
    )
    return None if row is None else int(row[0])


async def update(tx: Tx, room_id: int, fields: dict[str, str | int]) -> None:
    assert set(fields) <= {"name", "topic", "p2p"}, fields
    if not fields:
        return
    assignments = ", ".join(f"{k} = ?" for k in fields)
    try:
        await tx.execute(
            f"UPDATE rooms SET {assignments} WHERE id = ?", [*fields.values(), room_id]
        )
    except sqlite3.IntegrityError:
        raise Conflict("A channel with that name already exists.") from None


async def add_member(tx: Tx, room_id: int, user_id: int, role: str, now: int) -> bool:
    """True when the user was not a member before."""
    row = await tx.fetchone(
        "INSERT INTO members(room_id, user_id, role, joined_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT DO NOTHING RETURNING user_id",
        (room_id, user_id, role, now),
    )
    return row is not None


async def start_read_at_newest(tx: Tx, room_id: int, user_id: int) -> int | None:
    """Move a joining member's read marker up to the room's newest timeline message, forward
    only: what was said before she came is history she may scroll, not unread (nor
    mentions) for her. Returns the marker when it moved (None: an empty room, or already
    there)."""
    row = await tx.fetchone(
        "INSERT INTO read_markers(room_id, user_id, message_id)"
        " SELECT :room, :user, m.id FROM messages m"
        " WHERE m.room_id = :room AND m.thread_id IS NULL ORDER BY m.id DESC LIMIT 1"
        " ON CONFLICT(room_id, user_id) DO UPDATE SET message_id = excluded.message_id"
        " WHERE excluded.message_id > read_markers.message_id RETURNING message_id",
        {"room": room_id, "user": user_id},
    )
    return None if row is None else int(row[0])


async def start_threads_read(tx: Tx, room_id: int, user_id: int) -> None:
    """The same for the room's threads, where mentions are counted by thread markers: each
    thread with a reply mentioning the room (or her, from an earlier membership) is read up
    to it, so a joiner starts with no mentions. Reads `@room` replies and her own mentions
    only (messages_room_replies, mentions_user): a handful, whatever the room's size."""
    await tx.execute(
        "INSERT INTO thread_reads(root_id, user_id, message_id)"
        " SELECT q.thread_id, :user, max(q.id) FROM messages q WHERE q.id IN ("
        "  SELECT a.id FROM messages a WHERE a.room_id = :room AND a.thread_id IS NOT NULL"
        "   AND a.mention_room = 1"
        "  UNION SELECT x.message_id FROM mentions x WHERE x.user_id = :user"
        "   AND x.room_id = :room)"
        " AND q.thread_id IS NOT NULL GROUP BY q.thread_id"
        " ON CONFLICT(root_id, user_id) DO UPDATE SET message_id = excluded.message_id"
        " WHERE excluded.message_id > thread_reads.message_id",
        {"room": room_id, "user": user_id},
    )


async def remove_member(tx: Tx, room_id: int, user_id: int) -> bool:
    row = await tx.fetchone(
        "DELETE FROM members WHERE room_id = ? AND user_id = ? RETURNING user_id",
        (room_id, user_id),
    )
    return row is not None


async def set_hidden(tx: Tx, room_id: int, user_id: int, hide: bool) -> int | None:
    """Hide the room from the member's list until a timeline message newer than the newest
    now arrives (hide), or show it again; returns the new `hidden_through` (None: shown)."""
    row = await tx.fetchone(
        "UPDATE members SET hidden_through = CASE WHEN :hide = 1 THEN coalesce((SELECT max(m.id)"
        " FROM messages m WHERE m.room_id = :room AND m.thread_id IS NULL), 0) END"
        " WHERE room_id = :room AND user_id = :user RETURNING hidden_through",
        {"hide": int(hide), "room": room_id, "user": user_id},
    )
    return None if row is None or row[0] is None else int(row[0])


async def hidden_through(db: Reader, room_id: int, user_id: int) -> int | None:
    row = await db.fetchone(
        "SELECT hidden_through FROM members WHERE room_id = ? AND user_id = ?", (room_id, user_id)
    )
    return None if row is None or row[0] is None else int(row[0])


async def role(db: Reader, room_id: int, user_id: int) -> str | None:
    row = await db.fetchone(
        "SELECT role FROM members WHERE room_id = ? AND user_id = ?", (room_id, user_id)
    )
    return None if row is None else str(row[0])


async def member_ids(db: Reader, room_id: int) -> list[int]:
    rows = await db.fetchall(
        "SELECT user_id FROM members WHERE room_id = ? ORDER BY user_id", (room_id,)
    )
    return [int(r[0]) for r in rows]


async def member_count(db: Reader, room_id: int) -> int:
    row = await db.fetchone("SELECT count(*) FROM members WHERE room_id = ?", (room_id,))
    return int(row[0]) if row is not None else 0


async def room_counts(db: Reader, user_ids: list[int]) -> dict[int, int]:
    """How many rooms each of `user_ids` is in (absent: none); members_user is the index."""
    found: dict[int, int] = {}
    for start in range(0, len(user_ids), 500):
        chunk = user_ids[start : start + 500]
        rows = await db.fetchall(
            f"SELECT user_id, count(*) FROM members WHERE user_id IN ({placeholders(len(chunk))})"
            " GROUP BY user_id",
            chunk,
        )
        found.update((int(r[0]), int(r[1])) for r in rows)
    return found


async def all_memberships(db: Reader) -> list[tuple[int, int]]:
    rows = await db.fetchall("SELECT room_id, user_id FROM members")
    return [(int(r[0]), int(r[1])) for r in rows]


@dataclass(frozen=True, slots=True)
class RoomMembers:
    """A room's members and, among them, its owners: user ids, ascending."""

    ids: list[int]
    owners: list[int]


def _no_members() -> RoomMembers:
    return RoomMembers([], [])


async def members_of_rooms(db: Reader, room_ids: list[int]) -> dict[int, RoomMembers]:
    """Each room's members (a room with none: empty). One row per room, its ids as JSON
    arrays built by SQLite: a 5,000-member channel costs a json.loads, not 5,000 rows made
    and grouped in Python (/api/rooms of someone in 62 rooms: ~10,000 memberships)."""
    found: dict[int, RoomMembers] = defaultdict(_no_members)
    if room_ids:
        agg = spelled(db, sqlite="json_group_array", postgresql="json_agg")
        rows = await db.fetchall(
            f"SELECT room_id, {agg}(user_id),"
            f" coalesce({agg}(user_id) FILTER (WHERE role = 'owner'), '[]')"
            f" FROM members WHERE room_id IN ({placeholders(len(room_ids))}) GROUP BY room_id",
            room_ids,
        )
        for r in rows:
            # The primary key's order already; sorted() makes it a promise (linear then).
            found[int(r[0])] = RoomMembers(sorted(json.loads(r[1])), sorted(json.loads(r[2])))
    return found


# Unread counts stop here: the sidebar shows "999+" beyond, and a member far behind (one
# who never read a big room) costs a thousand index entries, not a room's whole history.
UNREAD_CAP = 1000

# Unread: timeline messages by others after the read marker, at most UNREAD_CAP. Mentions
# (exact: they are few): timeline messages after the marker naming the user or the room,
# plus thread replies doing so after the user's marker of their thread (thread_reads):
# reading the room does not see a thread. Each count reads an index only (migration 0015):
# mentions start from the user's mentions and the room's `@room` messages, never from
# every message after the marker (INDEXED BY: without it SQLite took the covering timeline
# index and read all 380,000 entries after a marker of 0 to find 1,100 `@room` ones).
_ROOM_STATE = f"""
SELECT {COLUMNS},
  (SELECT max(m.id) FROM messages m WHERE m.room_id = r.id AND m.thread_id IS NULL)
      AS last_message_id,
  rm.message_id AS last_read_message_id,
  (SELECT h.hidden_through FROM members h WHERE h.room_id = r.id AND h.user_id = :user
      AND h.hidden_through >= coalesce((SELECT max(m.id) FROM messages m
          WHERE m.room_id = r.id AND m.thread_id IS NULL), 0))
      AS hidden_through,
  (SELECT count(*) FROM (SELECT 1 FROM messages m WHERE m.room_id = r.id
      AND m.thread_id IS NULL AND m.deleted = 0 AND m.author_id != :user
      AND m.id > coalesce(rm.message_id, 0) LIMIT {UNREAD_CAP}) AS capped)
      AS unread,
  (SELECT count(*) FROM messages m WHERE m.id IN (
        SELECT x.message_id FROM mentions x WHERE x.user_id = :user AND x.room_id = r.id
            AND x.message_id > coalesce(rm.message_id, 0)
        UNION SELECT q.id FROM messages q INDEXED BY messages_timeline_room_mentions
            WHERE q.room_id = r.id AND q.thread_id IS NULL
            AND q.mention_room = 1 AND q.id > coalesce(rm.message_id, 0))
      AND m.thread_id IS NULL AND m.deleted = 0 AND m.author_id != :user)
      AS timeline_mentions,
  (SELECT count(*) FROM messages m WHERE m.id IN (
        SELECT x.message_id FROM mentions x WHERE x.user_id = :user AND x.room_id = r.id
        UNION SELECT q.id FROM messages q WHERE q.room_id = r.id AND q.thread_id IS NOT NULL
            AND q.mention_room = 1)
      AND m.thread_id IS NOT NULL AND m.deleted = 0 AND m.author_id != :user
      AND m.id > coalesce((SELECT t.message_id FROM thread_reads t
           WHERE t.root_id = m.thread_id AND t.user_id = :user), 0))
      AS thread_mentions,
  (SELECT coalesce(max(seq), 0) FROM events) AS seq
FROM rooms r
LEFT JOIN read_markers rm ON rm.room_id = r.id AND rm.user_id = :user
"""


async def states_for(db: Reader, user_id: int, room_id: int | None = None) -> list[Row]:
    """The rooms `user_id` is a member of, with that user's unread and mention counts, and
    (`seq`) the event-log position they are exact at: one statement reads both, so a client
    can tell which events its snapshot already counts."""
    where = "WHERE r.id IN (SELECT room_id FROM members WHERE user_id = :user)"
    params: dict[str, Any] = {"user": user_id}
    if room_id is not None:
        where += " AND r.id = :room"
        params["room"] = room_id
    return await db.fetchall(f"{_ROOM_STATE} {where} ORDER BY r.id", params)


async def channels(db: Reader) -> list[Row]:
    return await db.fetchall(
        f"SELECT {COLUMNS}, (SELECT count(*) FROM members mb WHERE mb.room_id = r.id)"
        " AS member_count FROM rooms r WHERE r.kind = 'channel'"
        f" ORDER BY {nocase_order(db, 'r.name')}"
    )


def to_api(row: Row, members: RoomMembers, state: Row | None = None) -> dict[str, Any]:
    """The `room` object of docs/api.md; without `state`, the per-user counters are zero."""
    return {
        "id": row["id"],
        "kind": row["kind"],
        "name": row["name"],
        "topic": row["topic"],
        "members": members.ids,
        "owners": members.owners,
        "unread": int(state["unread"]) if state else 0,
        "mentions": int(state["timeline_mentions"]) + int(state["thread_mentions"]) if state else 0,
        "thread_mentions": int(state["thread_mentions"]) if state else 0,
        "last_message_id": state["last_message_id"] if state else None,
        "last_read_message_id": state["last_read_message_id"] if state else None,
        "hidden_through": state["hidden_through"] if state else None,
        "created_by": row["created_by"],
        "created_at": row["created_at"],
        "p2p": bool(row["p2p"]),
        "avatar_url": avatar_url(row["avatar_hash"]),
    }
