"""Login sessions: random tokens stored only as their SHA-256."""

from __future__ import annotations

from ..db import Tx
from ..engine import Row
from . import Reader


async def insert(
    tx: Tx,
    user_id: int,
    token_hash: bytes,
    now: int,
    expires_at: int,
    user_agent: str,
    address: str,
) -> int:
    row = await tx.fetchone(
        "INSERT INTO sessions(token_hash, user_id, created_at, expires_at, last_used_at,"
        " user_agent, address) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (token_hash, user_id, now, expires_at, now, user_agent[:256], address[:64]),
    )
    assert row is not None
    return int(row[0])


async def lookup(db: Reader, token_hash: bytes) -> Row | None:
    return await db.fetchone(
        "SELECT s.id AS session_id, s.user_id, s.expires_at, s.last_used_at, u.deactivated"
        " FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?",
        (token_hash,),
    )


async def touch(tx: Tx, session_id: int, now: int, expires_at: int) -> None:
    await tx.execute(
        "UPDATE sessions SET last_used_at = ?, expires_at = ? WHERE id = ?",
        (now, expires_at, session_id),
    )


async def delete(tx: Tx, session_id: int) -> None:
    await tx.execute("DELETE FROM sessions WHERE id = ?", (session_id,))


async def delete_for_user(tx: Tx, user_id: int, *, keep: int | None = None) -> None:
    await tx.execute(
        "DELETE FROM sessions WHERE user_id = ? AND id IS DISTINCT FROM ?",
        (user_id, keep),
    )


async def delete_expired(tx: Tx, now: int) -> None:
    await tx.execute("DELETE FROM sessions WHERE expires_at <= ?", (now,))


async def for_user(db: Reader, user_id: int) -> list[Row]:
    return await db.fetchall(
        "SELECT id, created_at, expires_at, last_used_at, user_agent, address FROM sessions"
        " WHERE user_id = ? ORDER BY last_used_at DESC",
        (user_id,),
    )
