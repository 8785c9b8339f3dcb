"""Users: accounts, profiles, flags."""

from __future__ import annotations

from typing import Any

from ..db import Tx
from ..engine import Row
from ..errors import Conflict
from . import Reader, placeholders
from .uploads import avatar_url

COLUMNS = (
    "id, username, display_name, password_hash, admin, deactivated, status_text, avatar,"
    " created_at, last_seen_at, avatar_hash, system, timezone"
)


async def insert(
    tx: Tx,
    username: str,
    display_name: str,
    password_hash: str,
    admin: bool,
    now: int,
    *,
    system: bool = False,
) -> Row:
    row = await tx.fetchone(
        "INSERT INTO users(username, display_name, password_hash, admin, created_at, system)"
        f" VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING {COLUMNS}",
        (username, display_name, password_hash, int(admin), now, int(system)),
    )
    if row is None:
        raise Conflict("That username is taken.")
    return row


async def get(db: Reader, user_id: int) -> Row | None:
    return await db.fetchone(f"SELECT {COLUMNS} FROM users WHERE id = ?", (user_id,))


async def person(db: Reader, user_id: int) -> Row | None:
    """The account, unless it is a system account (those are never anyone's to manage)."""
    return await db.fetchone(f"SELECT {COLUMNS} FROM users WHERE id = ? AND system = 0", (user_id,))


async def by_username(db: Reader, username: str) -> Row | None:
    return await db.fetchone(f"SELECT {COLUMNS} FROM users WHERE username = ?", (username,))


async def many(db: Reader, user_ids: list[int]) -> list[Row]:
    if not user_ids:
        return []
    return await db.fetchall(
        f"SELECT {COLUMNS} FROM users WHERE id IN ({placeholders(len(user_ids))})", user_ids
    )


async def all_users(db: Reader) -> list[Row]:
    """Every account, system ones too (TURN's set of deactivated accounts)."""
    return await db.fetchall(f"SELECT {COLUMNS} FROM users ORDER BY username")


async def people(db: Reader) -> list[Row]:
    """Every account but the system ones: the directory and the admin's list of people."""
    return await db.fetchall(f"SELECT {COLUMNS} FROM users WHERE system = 0 ORDER BY username")


async def system_users(db: Reader) -> list[Row]:
    return await db.fetchall(f"SELECT {COLUMNS} FROM users WHERE system = 1 ORDER BY username")


async def active_ids_by_username(db: Reader, usernames: list[str]) -> dict[str, int]:
    if not usernames:
        return {}
    rows = await db.fetchall(
        f"SELECT id, lower(username) FROM users WHERE deactivated = 0 AND system = 0"
        f" AND username IN ({placeholders(len(usernames))})",
        usernames,
    )
    return {str(r[1]): int(r[0]) for r in rows}


async def update(tx: Tx, user_id: int, fields: dict[str, Any]) -> Row:
    allowed = {
        "display_name",
        "status_text",
        "timezone",
        "avatar",
        "password_hash",
        "admin",
        "deactivated",
    }
    assert set(fields) <= allowed, fields
    if fields:
        assignments = ", ".join(f"{name} = ?" for name in fields)
        await tx.execute(
            f"UPDATE users SET {assignments} WHERE id = ?", [*fields.values(), user_id]
        )
    row = await get(tx, user_id)
    assert row is not None
    return row


async def set_last_seen(tx: Tx, user_id: int, now: int) -> None:
    await tx.execute("UPDATE users SET last_seen_at = ? WHERE id = ?", (now, user_id))


async def count_active_admins(db: Reader) -> int:
    row = await db.fetchone("SELECT count(*) FROM users WHERE admin = 1 AND deactivated = 0")
    return int(row[0]) if row else 0


def to_api(row: Row, *, online: bool) -> dict[str, Any]:
    """The `user` object of docs/api.md."""
    return {
        "id": row["id"],
        "username": row["username"],
        "display_name": row["display_name"],
        "admin": bool(row["admin"]),
        "avatar_url": avatar_url(row["avatar_hash"]),
        "status_text": row["status_text"],
        "online": online,
        "deactivated": bool(row["deactivated"]),
        "last_seen": row["last_seen_at"],
        "system": bool(row["system"]),
        "timezone": row["timezone"],
    }
