"""Invite codes, stored only as their SHA-256."""

from __future__ import annotations

from ..db import Tx
from ..engine import Row
from . import Reader


async def insert(
    tx: Tx, code_hash: bytes, created_by: int | None, now: int, expires_at: int | None, uses: int
) -> int:
    row = await tx.fetchone(
        "INSERT INTO invites(code_hash, created_by, created_at, expires_at, uses_left)"
        " VALUES (?, ?, ?, ?, ?) RETURNING id",
        (code_hash, created_by, now, expires_at, uses),
    )
    assert row is not None
    return int(row[0])


async def consume(tx: Tx, code_hash: bytes, now: int) -> bool:
    """Use one of the invite's uses; False when unknown, used up or expired."""
    row = await tx.fetchone(
        "UPDATE invites SET uses_left = uses_left - 1 WHERE code_hash = ? AND uses_left > 0"
        " AND (expires_at IS NULL OR expires_at > ?) RETURNING id",
        (code_hash, now),
    )
    return row is not None


async def usable(db: Reader, code_hash: bytes, now: int) -> bool:
    """Whether `consume` would succeed now: a cheap check before any expensive work."""
    row = await db.fetchone(
        "SELECT 1 FROM invites WHERE code_hash = ? AND uses_left > 0"
        " AND (expires_at IS NULL OR expires_at > ?)",
        (code_hash, now),
    )
    return row is not None


async def all_invites(db: Reader) -> list[Row]:
    """Every invite, newest first, without its code (only the hash is stored anyway)."""
    return await db.fetchall(
        "SELECT id, created_by, created_at, expires_at, uses_left FROM invites"
        " ORDER BY created_at DESC, id DESC"
    )


async def delete(tx: Tx, invite_id: int) -> bool:
    row = await tx.fetchone("DELETE FROM invites WHERE id = ? RETURNING id", (invite_id,))
    return row is not None
