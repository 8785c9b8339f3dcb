"""Uploaded files: blobs (stored bytes, by content hash) and uploads (who sent what, as what).

Avatars live here too: a user's or room's `avatar_hash` names a server-made thumbnail.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from ..db import Tx
from ..engine import Row
from . import Reader, placeholders

COLUMNS = (
    "u.id, u.owner_id, u.hash, u.name, u.size, u.mime, u.width, u.height, u.duration_ms,"
    " u.animated, u.message_id, u.created_at, b.has_thumb"
)
FROM = "FROM uploads u JOIN blobs b ON b.hash = u.hash"


@dataclass(frozen=True, slots=True)
class NewUpload:
    owner_id: int
    hash: str
    name: str
    size: int
    mime: str
    width: int | None
    height: int | None
    duration_ms: int | None
    animated: bool
    has_thumb: bool


BLOB_LOCKS = 0x626C6F62  # PostgreSQL's advisory locks of blobs: this space, a hash's key
AVATAR_LOCKS = 0x61766174  # and of avatars' pictures


async def lock_blob(tx: Tx, content_hash: str, space: int = BLOB_LOCKS) -> None:
    """Until the transaction ends, take turns with every other transaction about this blob:
    on PostgreSQL the nodes write at once, and an upload of the same bytes on one must not
    slip between another's decision that the file is unused and its removal. (SQLite's one
    writer already runs them one at a time.) A job takes several in hash order. Two nodes'
    batches cannot deadlock on them: each batch first takes the event log's head, so one
    batch at a time holds any (cluster/writer.py)."""
    if tx.dialect == "postgresql":
        key = int(content_hash[:8], 16) - (1 << 31)  # 32 bits, signed, as PostgreSQL's int
        await tx.execute("SELECT pg_advisory_xact_lock(?, ?)", (space, key))


async def blob_exists(db: Reader, content_hash: str) -> bool:
    return await db.fetchone("SELECT 1 FROM blobs WHERE hash = ?", (content_hash,)) is not None


async def insert(tx: Tx, new: NewUpload, now: int) -> tuple[Row, bool]:
    """The upload row, and whether its blob is new (the caller then puts the file in place)."""
    created = await tx.fetchone(
        "INSERT INTO blobs(hash, size, has_thumb, created_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT DO NOTHING RETURNING hash",
        (new.hash, new.size, int(new.has_thumb), now),
    )
    row = await tx.fetchone(
        "INSERT INTO uploads(owner_id, hash, name, size, mime, width, height, duration_ms,"
        " animated, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (
            new.owner_id,
            new.hash,
            new.name,
            new.size,
            new.mime,
            new.width,
            new.height,
            new.duration_ms,
            int(new.animated),
            now,
        ),
    )
    assert row is not None
    found = await get(tx, int(row[0]))
    assert found is not None
    return found, created is not None


async def get(db: Reader, upload_id: int) -> Row | None:
    return await db.fetchone(f"SELECT {COLUMNS} {FROM} WHERE u.id = ?", (upload_id,))


async def bytes_of_user(db: Reader, user_id: int) -> int:
    row = await db.fetchone(
        "SELECT coalesce(sum(size), 0) FROM uploads WHERE owner_id = ?", (user_id,)
    )
    return int(row[0]) if row else 0


async def bytes_stored(db: Reader) -> int:
    row = await db.fetchone("SELECT coalesce(sum(size), 0) FROM blobs")
    return int(row[0]) if row else 0


async def attach(tx: Tx, message_id: int, owner_id: int, upload_ids: list[int]) -> list[int]:
    """Attach the owner's unattached uploads to a message; returns the ids that were not."""
    missing = []
    for upload_id in upload_ids:
        row = await tx.fetchone(
            "UPDATE uploads SET message_id = ? WHERE id = ? AND owner_id = ?"
            " AND message_id IS NULL RETURNING id",
            (message_id, upload_id, owner_id),
        )
        if row is None:
            missing.append(upload_id)
    return missing


async def for_messages(db: Reader, message_ids: list[int]) -> dict[int, list[Row]]:
    found: dict[int, list[Row]] = defaultdict(list)
    if message_ids:
        for row in await db.fetchall(
            f"SELECT {COLUMNS} {FROM} WHERE u.message_id IN ({placeholders(len(message_ids))})"
            " ORDER BY u.message_id, u.id",
            message_ids,
        ):
            found[int(row["message_id"])].append(row)
    return found


async def delete_for_message(tx: Tx, message_id: int) -> list[str]:
    """Remove a message's uploads; returns the hashes they used (maybe now unused)."""
    rows = await tx.fetchall(
        "DELETE FROM uploads WHERE message_id = ? RETURNING hash", (message_id,)
    )
    return sorted({str(r[0]) for r in rows})


async def delete_unattached_before(tx: Tx, cutoff: int, limit: int) -> list[str]:
    rows = await tx.fetchall(
        "DELETE FROM uploads WHERE id IN (SELECT id FROM uploads WHERE message_id IS NULL"
        " AND created_at < ? ORDER BY created_at LIMIT ?) RETURNING hash",
        (cutoff, limit),
    )
    return sorted({str(r[0]) for r in rows})


async def drop_unused_blobs(tx: Tx, hashes: list[str]) -> list[tuple[str, bool]]:
    """Forget blobs no upload uses any more; returns (hash, has_thumb) of those to unlink."""
    gone = []
    for content_hash in sorted(set(hashes)):
        await lock_blob(tx, content_hash)
        row = await tx.fetchone(
            "DELETE FROM blobs WHERE hash = ? AND NOT EXISTS"
            " (SELECT 1 FROM uploads WHERE hash = ?) RETURNING has_thumb",
            (content_hash, content_hash),
        )
        if row is not None:
            gone.append((content_hash, bool(row[0])))
    return gone


async def known_hashes(db: Reader) -> tuple[set[str], set[str]]:
    """Every blob hash, and every avatar hash a user or room uses."""
    blobs = {str(r[0]) for r in await db.fetchall("SELECT hash FROM blobs")}
    avatars = {
        str(r[0])
        for r in await db.fetchall(
            "SELECT avatar_hash FROM users WHERE avatar_hash IS NOT NULL"
            " UNION SELECT avatar_hash FROM rooms WHERE avatar_hash IS NOT NULL"
        )
    }
    return blobs, avatars


async def avatar_in_use(db: Reader, content_hash: str) -> bool:
    row = await db.fetchone(
        "SELECT 1 WHERE EXISTS (SELECT 1 FROM users WHERE avatar_hash = ?)"
        " OR EXISTS (SELECT 1 FROM rooms WHERE avatar_hash = ?)",
        (content_hash, content_hash),
    )
    return row is not None


async def set_user_avatar(tx: Tx, user_id: int, content_hash: str | None) -> str | None:
    """Set a user's avatar; returns the one it replaces."""
    row = await tx.fetchone("SELECT avatar_hash FROM users WHERE id = ?", (user_id,))
    await tx.execute("UPDATE users SET avatar_hash = ? WHERE id = ?", (content_hash, user_id))
    return None if row is None else row[0]


async def set_room_avatar(tx: Tx, room_id: int, content_hash: str | None) -> str | None:
    row = await tx.fetchone("SELECT avatar_hash FROM rooms WHERE id = ?", (room_id,))
    await tx.execute("UPDATE rooms SET avatar_hash = ? WHERE id = ?", (content_hash, room_id))
    return None if row is None else row[0]


def avatar_url(content_hash: str | None) -> str | None:
    return None if not content_hash else f"/api/avatars/{content_hash}.webp"


def url_name(name: str) -> str:
    """The file name as the last URL segment (`thumb` is the thumbnail's own segment)."""
    return "_thumb" if name == "thumb" else quote(name, safe="")


def to_api(row: Row) -> dict[str, Any]:
    """The `upload` object of docs/api/uploads.md."""
    upload_id = int(row["id"])
    is_image = row["width"] is not None
    return {
        "id": upload_id,
        "name": row["name"],
        "size": row["size"],
        "mime": row["mime"],
        "url": f"/api/uploads/{upload_id}/{url_name(row['name'])}",
        "thumb_url": f"/api/uploads/{upload_id}/thumb" if is_image else None,
        "width": row["width"],
        "height": row["height"],
        "duration_ms": row["duration_ms"],
        "animated": bool(row["animated"]),
    }
