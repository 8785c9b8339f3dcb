"""Messages, mentions, reactions, read markers and full-text search."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from .. import wire
from ..db import SyncTx, Tx
from ..engine import Row
from . import Reader, placeholders, uploads
from .dialect import spelled

COLUMNS = (
    "m.id, m.room_id, m.author_id, m.thread_id, m.body, m.client_id, m.created_at,"
    " m.edited_at, m.deleted, m.mention_room, m.call"
)
_GET = f"SELECT {COLUMNS} FROM messages m WHERE m.id = ?"
_INSERT_AS_MEMBER = (
    "INSERT INTO messages(room_id, author_id, thread_id, body, client_id, created_at,"
    " mention_room) SELECT ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM members"
    " WHERE room_id = ? AND user_id = ?) ON CONFLICT DO NOTHING"
    f" RETURNING {COLUMNS.replace('m.', '')}"
)
_INSERT_NEW_AS_MEMBER = _INSERT_AS_MEMBER.split(" RETURNING ")[0] + " RETURNING id"
_INSERT_MENTION = "INSERT INTO mentions(message_id, user_id, room_id) VALUES (?, ?, ?)"


async def insert_as_member(
    tx: Tx,
    room_id: int,
    author_id: int,
    thread_id: int | None,
    body: str,
    client_id: str | None,
    now: int,
    mention_room: bool,
) -> Row | None:
    """Insert if the author is a member of the room and the client_id is new, else None."""
    return await tx.fetchone(
        _INSERT_AS_MEMBER,
        _insert_params(room_id, author_id, thread_id, body, client_id, now, mention_room),
    )


def _insert_params(
    room_id: int,
    author_id: int,
    thread_id: int | None,
    body: str,
    client_id: str | None,
    now: int,
    mention_room: bool,
) -> tuple[object, ...]:
    # The room and author twice: the row's values, then the membership check.
    return (
        room_id,
        author_id,
        thread_id,
        body,
        client_id,
        now,
        int(mention_room),
        room_id,
        author_id,
    )


# The same writes for a job run in the writer's thread (Database.write_sync): a message
# sent, the hot path, costs the event loop no hop per statement.


def insert_as_member_sync(
    tx: SyncTx,
    room_id: int,
    author_id: int,
    thread_id: int | None,
    body: str,
    client_id: str | None,
    now: int,
    mention_room: bool,
) -> int | None:
    """As `insert_as_member`, returning only the new message's id: the caller knows the
    rest of the row (`new_message`), and reading it back by name costs more than the insert's
    own Python work."""
    row = tx.fetchone(
        _INSERT_NEW_AS_MEMBER,
        _insert_params(room_id, author_id, thread_id, body, client_id, now, mention_room),
    )
    return None if row is None else int(row[0])


def new_message(
    message_id: int,
    room_id: int,
    author_id: int,
    thread_id: int | None,
    body: str,
    client_id: str | None,
    now: int,
    mentions: list[int],
    mention_room: bool,
) -> wire.Encoded:
    """`to_api` of a message just inserted without files (no edit, reaction, reply or call
    yet), with its JSON made by hand, once: on a Pi this is the send path's hottest Python.
    tests/unit/test_new_message.py holds it equal to `wire.dumps(to_api(...))`."""
    message: dict[str, Any] = {
        "id": message_id,
        "room": room_id,
        "author": author_id,
        "thread": thread_id,
        "body": body,
        "attachments": [],
        "created_at": now,
        "edited_at": None,
        "deleted": False,
        "client_id": client_id,
        "reply_count": 0,
        "last_reply_at": None,
        "reactions": {},
        "mentions": mentions,
        "mention_room": mention_room,
        "call": None,
    }
    thread = "null" if thread_id is None else str(thread_id)
    client = "null" if client_id is None else wire.dumps(client_id)
    mentioned = ",".join(str(uid) for uid in mentions)
    encoded = (
        f'{{"id":{message_id},"room":{room_id},"author":{author_id},"thread":{thread},'
        f'"body":{wire.dumps(body)},"attachments":[],"created_at":{now},'
        f'"edited_at":null,"deleted":false,"client_id":{client},"reply_count":0,'
        f'"last_reply_at":null,"reactions":{{}},"mentions":[{mentioned}],'
        f'"mention_room":{"true" if mention_room else "false"},"call":null}}'
    )
    return wire.Encoded(message, encoded)


def get_sync(tx: SyncTx, message_id: int) -> Row | None:
    return tx.fetchone(_GET, (message_id,))


def mentionable_ids_sync(tx: SyncTx, room_id: int, usernames: list[str]) -> list[int]:
    """Active people (no system account) among the room's members with these usernames,
    in id order (as users.active_ids_by_username filtered by rooms.member_ids)."""
    rows = tx.fetchall(
        "SELECT u.id FROM users u JOIN members mb ON mb.user_id = u.id AND mb.room_id = ?"
        " WHERE u.deactivated = 0 AND u.system = 0"
        f" AND u.username IN ({placeholders(len(usernames))}) ORDER BY u.id",
        (room_id, *usernames),
    )
    return [int(r[0]) for r in rows]


def add_mentions_sync(tx: SyncTx, message_id: int, room_id: int, user_ids: list[int]) -> None:
    """The mentions of a message just inserted (it has none yet)."""
    for uid in user_ids:
        tx.execute(_INSERT_MENTION, (message_id, uid, room_id))


async def insert_call_record(
    tx: Tx, room_id: int, author_id: int, record: dict[str, Any], now: int
) -> Row | None:
    """A call record (chat/call_records.py) in the room's timeline; None when the room is
    gone, peer-to-peer (nothing of it is kept here), or shared with a system account (the
    test call leaves no trace)."""
    return await tx.fetchone(
        "INSERT INTO messages(room_id, author_id, body, created_at, call)"
        " SELECT r.id, ?, '', ?, ? FROM rooms r WHERE r.id = ? AND r.p2p = 0"
        " AND NOT EXISTS (SELECT 1 FROM members mb JOIN users u ON u.id = mb.user_id"
        " WHERE mb.room_id = r.id AND u.system = 1)"
        f" RETURNING {COLUMNS.replace('m.', '')}",
        (author_id, now, json.dumps(record, separators=(",", ":")), room_id),
    )


async def unfinished_call_records(db: Reader) -> list[Row]:
    """(room_id, author_id, call_id) of each call recorded as started with no later record
    of the same call (on the partial index messages_call_records, migration 0011)."""
    s_id, s_event, e_id = (
        spelled(db, sqlite=f"json_extract({t}.call, '$.{key}')", postgresql=f"{t}.call ->> '{key}'")
        for t, key in (("s", "id"), ("s", "event"), ("e", "id"))
    )
    return await db.fetchall(
        f"SELECT s.room_id, s.author_id, {s_id} AS call_id"
        # On the index only: never a scan of every message (slow, and it would read a
        # damaged page of old messages that must not stop the server from starting).
        " FROM messages s INDEXED BY messages_call_records"
        f" WHERE s.call IS NOT NULL AND {s_event} = 'started'"
        " AND NOT EXISTS (SELECT 1 FROM messages e INDEXED BY messages_call_records"
        " WHERE e.room_id = s.room_id AND e.call IS NOT NULL AND e.id > s.id"
        f" AND {e_id} = {s_id})"
        " ORDER BY s.room_id, s.id"
    )


async def by_client_id(db: Reader, author_id: int, client_id: str) -> Row | None:
    return await db.fetchone(
        f"SELECT {COLUMNS} FROM messages m WHERE m.author_id = ? AND m.client_id = ?",
        (author_id, client_id),
    )


async def get(db: Reader, message_id: int) -> Row | None:
    return await db.fetchone(_GET, (message_id,))


async def set_mentions(tx: Tx, message_id: int, room_id: int, user_ids: list[int]) -> None:
    await tx.execute("DELETE FROM mentions WHERE message_id = ?", (message_id,))
    for uid in user_ids:
        await tx.execute(_INSERT_MENTION, (message_id, uid, room_id))


async def edit(tx: Tx, message_id: int, body: str, now: int, mention_room: bool) -> None:
    await tx.execute(
        "UPDATE messages SET body = ?, edited_at = ?, mention_room = ? WHERE id = ?",
        (body, now, int(mention_room), message_id),
    )


async def tombstone(tx: Tx, message_id: int, now: int) -> None:
    """Delete a message's content but keep its id, so threads and markers stay whole."""
    await tx.execute(
        "UPDATE messages SET body = '', deleted = 1, mention_room = 0, edited_at = ? WHERE id = ?",
        (now, message_id),
    )
    await tx.execute("DELETE FROM mentions WHERE message_id = ?", (message_id,))
    await tx.execute("DELETE FROM reactions WHERE message_id = ?", (message_id,))


async def set_reaction(
    tx: Tx, message_id: int, user_id: int, emoji: str, on: bool, now: int
) -> bool:
    """True when this changed anything."""
    if on:
        row = await tx.fetchone(
            "INSERT INTO reactions(message_id, user_id, emoji, created_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT DO NOTHING RETURNING 1",
            (message_id, user_id, emoji, now),
        )
    else:
        row = await tx.fetchone(
            "DELETE FROM reactions WHERE message_id = ? AND user_id = ? AND emoji = ? RETURNING 1",
            (message_id, user_id, emoji),
        )
    return row is not None


async def count_distinct_emoji(db: Reader, message_id: int) -> int:
    row = await db.fetchone(
        "SELECT count(DISTINCT emoji) FROM reactions WHERE message_id = ?", (message_id,)
    )
    return int(row[0]) if row else 0


async def advance_read_marker(tx: Tx, room_id: int, user_id: int, message_id: int) -> bool:
    """Move the marker forward only; True when it moved."""
    row = await tx.fetchone(
        "INSERT INTO read_markers(room_id, user_id, message_id) VALUES (?, ?, ?)"
        " ON CONFLICT(room_id, user_id) DO UPDATE SET message_id = excluded.message_id"
        " WHERE excluded.message_id > read_markers.message_id RETURNING 1",
        (room_id, user_id, message_id),
    )
    return row is not None


async def move_read_marker_back(tx: Tx, room_id: int, user_id: int, message_id: int) -> bool:
    """Set the marker to `message_id` when it is behind the current one; True when it moved."""
    row = await tx.fetchone(
        "INSERT INTO read_markers(room_id, user_id, message_id) VALUES (?, ?, ?)"
        " ON CONFLICT(room_id, user_id) DO UPDATE SET message_id = excluded.message_id"
        " WHERE excluded.message_id < read_markers.message_id RETURNING 1",
        (room_id, user_id, message_id),
    )
    return row is not None


async def timeline_id_before(db: Reader, room_id: int, message_id: int) -> int:
    """The room's timeline message just before `message_id`; 0 when it is the first."""
    row = await db.fetchone(
        "SELECT max(id) FROM messages WHERE room_id = ? AND thread_id IS NULL AND id < ?",
        (room_id, message_id),
    )
    return int(row[0]) if row and row[0] is not None else 0


async def advance_thread_marker(tx: Tx, root_id: int, user_id: int, message_id: int) -> bool:
    """Move the user's marker of one thread forward only; True when it moved."""
    row = await tx.fetchone(
        "INSERT INTO thread_reads(root_id, user_id, message_id) VALUES (?, ?, ?)"
        " ON CONFLICT(root_id, user_id) DO UPDATE SET message_id = excluded.message_id"
        " WHERE excluded.message_id > thread_reads.message_id RETURNING 1",
        (root_id, user_id, message_id),
    )
    return row is not None


async def thread_marker(db: Reader, root_id: int, user_id: int) -> int:
    row = await db.fetchone(
        "SELECT message_id FROM thread_reads WHERE root_id = ? AND user_id = ?",
        (root_id, user_id),
    )
    return int(row[0]) if row else 0


async def read_markers(db: Reader, room_id: int) -> dict[int, int]:
    rows = await db.fetchall(
        "SELECT rm.user_id, rm.message_id FROM read_markers rm JOIN members mb"
        " ON mb.room_id = rm.room_id AND mb.user_id = rm.user_id WHERE rm.room_id = ?",
        (room_id,),
    )
    return {int(r[0]): int(r[1]) for r in rows}


async def page(
    db: Reader, room_id: int, *, before: int | None, after: int | None, limit: int
) -> tuple[list[Row], bool]:
    """A page of the room timeline (thread replies left out), oldest first, and has_more."""
    if after is not None:
        rows = await db.fetchall(
            f"SELECT {COLUMNS} FROM messages m WHERE m.room_id = ? AND m.thread_id IS NULL"
            " AND m.id > ? ORDER BY m.id LIMIT ?",
            (room_id, after, limit + 1),
        )
        return rows[:limit], len(rows) > limit
    rows = await db.fetchall(
        f"SELECT {COLUMNS} FROM messages m WHERE m.room_id = ? AND m.thread_id IS NULL"
        " AND m.id < ? ORDER BY m.id DESC LIMIT ?",
        (room_id, before if before is not None else 1 << 62, limit + 1),
    )
    has_more = len(rows) > limit
    return list(reversed(rows[:limit])), has_more


async def thread(db: Reader, root_id: int, limit: int) -> list[Row]:
    return await db.fetchall(
        f"SELECT {COLUMNS} FROM messages m WHERE m.thread_id = ? ORDER BY m.id LIMIT ?",
        (root_id, limit),
    )


def fts5_query(words: list[str]) -> str:
    """Words (letters and digits only) → an FTS5 query of quoted prefix terms, all wanted."""
    return " ".join(f'"{w}"*' for w in words)


def tsquery(words: list[str]) -> str:
    """Words (letters and digits only) → PostgreSQL's to_tsquery text: prefixes, all wanted."""
    return " & ".join(f"{w.lower()}:*" for w in words)


# PostgreSQL: the generated `search` column (cluster/schema/v0002_chat.py), accents removed
# on both sides as SQLite's unicode61 tokenizer does.
_PG_MATCH = (
    "m.search @@ to_tsquery('simple'::regconfig,"
    " public.unaccent('public.unaccent'::regdictionary, ?))"
)


async def search(
    db: Reader,
    user_id: int,
    words: list[str],
    room_id: int | None,
    before: int | None,
    limit: int,
) -> list[Row]:
    """Newest messages holding every word (as a prefix) first, only from rooms the user is
    a member of.

    On SQLite ordered and bounded by the index's own rowid (`f.rowid`, not `m.id`): FTS5
    then reads its matches newest first and stops at the page's end, where `m.id` sorted
    every match first (seconds for a common word at a million messages; bench/history.py)."""
    if db.dialect == "postgresql":
        sql = f"SELECT {COLUMNS} FROM messages m WHERE {_PG_MATCH}"
        key = "m.id"
        params: list[Any] = [tsquery(words)]
    else:
        sql = (
            f"SELECT {COLUMNS} FROM messages_fts f JOIN messages m ON m.id = f.rowid"
            " WHERE messages_fts MATCH ?"
        )
        key = "f.rowid"
        params = [fts5_query(words)]
    sql += " AND m.deleted = 0 AND m.room_id IN (SELECT room_id FROM members WHERE user_id = ?)"
    params.append(user_id)
    if room_id is not None:
        sql += " AND m.room_id = ?"
        params.append(room_id)
    if before is not None:
        sql += f" AND {key} < ?"
        params.append(before)
    sql += f" ORDER BY {key} DESC LIMIT ?"
    params.append(limit)
    return await db.fetchall(sql, params)


async def hydrate(db: Reader, rows: list[Row]) -> list[dict[str, Any]]:
    """Rows → `message` objects, with reactions, mentions, reply counts and files in four
    queries."""
    if not rows:
        return []
    ids = [int(r["id"]) for r in rows]
    marks = placeholders(len(ids))
    reactions: dict[int, dict[str, list[int]]] = defaultdict(dict)
    for r in await db.fetchall(
        f"SELECT message_id, emoji, user_id FROM reactions WHERE message_id IN ({marks})"
        " ORDER BY message_id, created_at, user_id",
        ids,
    ):
        reactions[int(r[0])].setdefault(str(r[1]), []).append(int(r[2]))
    mentions: dict[int, list[int]] = defaultdict(list)
    for r in await db.fetchall(
        f"SELECT message_id, user_id FROM mentions WHERE message_id IN ({marks})"
        " ORDER BY message_id, user_id",
        ids,
    ):
        mentions[int(r[0])].append(int(r[1]))
    replies: dict[int, tuple[int, int | None]] = {}
    for r in await db.fetchall(
        f"SELECT thread_id, count(*), max(created_at) FROM messages WHERE thread_id IN ({marks})"
        " AND deleted = 0 GROUP BY thread_id",
        ids,
    ):
        replies[int(r[0])] = (int(r[1]), r[2])
    files = await uploads.for_messages(db, ids)
    return [
        to_api(
            row,
            reactions=reactions.get(int(row["id"]), {}),
            mentions=mentions.get(int(row["id"]), []),
            replies=replies.get(int(row["id"]), (0, None)),
            attachments=[uploads.to_api(f) for f in files.get(int(row["id"]), [])],
        )
        for row in rows
    ]


def to_api(
    row: Row,
    *,
    reactions: dict[str, list[int]],
    mentions: list[int],
    replies: tuple[int, int | None] = (0, None),
    attachments: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The `message` object of docs/api.md."""
    return {
        "id": row["id"],
        "room": row["room_id"],
        "author": row["author_id"],
        "thread": row["thread_id"],
        "body": row["body"],
        "attachments": attachments or [],
        "created_at": row["created_at"],
        "edited_at": row["edited_at"],
        "deleted": bool(row["deleted"]),
        "client_id": row["client_id"],
        "reply_count": replies[0],
        "last_reply_at": replies[1],
        "reactions": reactions,
        "mentions": mentions,
        "mention_room": bool(row["mention_room"]),
        "call": json.loads(row["call"]) if row["call"] is not None else None,
    }
