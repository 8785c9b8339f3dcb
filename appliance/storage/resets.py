"""One-time password reset links: random tokens stored only as their SHA-256."""

from __future__ import annotations

from ..db import Tx
from . import Reader


async def replace(
    tx: Tx, user_id: int, token_hash: bytes, created_by: int, now: int, expires_at: int
) -> None:
    """The user's new reset link; an older one (and any expired link) stops working."""
    await tx.execute(
        "DELETE FROM password_resets WHERE user_id = ? OR expires_at <= ?", (user_id, now)
    )
    await tx.execute(
        "INSERT INTO password_resets(token_hash, user_id, created_by, created_at, expires_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (token_hash, user_id, created_by, now, expires_at),
    )


async def valid_user(db: Reader, token_hash: bytes, now: int) -> int | None:
    """The user a link resets, while it is unused and unexpired."""
    row = await db.fetchone(
        "SELECT user_id FROM password_resets WHERE token_hash = ? AND expires_at > ?",
        (token_hash, now),
    )
    return None if row is None else int(row[0])


async def consume(tx: Tx, token_hash: bytes, now: int) -> int | None:
    """Use the link up (once): the user it resets, or None when unknown, used or expired."""
    row = await tx.fetchone(
        "DELETE FROM password_resets WHERE token_hash = ? AND expires_at > ? RETURNING user_id",
        (token_hash, now),
    )
    return None if row is None else int(row[0])


async def delete_for_user(tx: Tx, user_id: int) -> None:
    await tx.execute("DELETE FROM password_resets WHERE user_id = ?", (user_id,))
