"""Web Push subscriptions, one per device (migration 0013): kept, trimmed, looked up, and
marked after each send (success, failure with its back-off, gone)."""

from __future__ import annotations

from collections.abc import Sequence

from ..db import Tx
from ..engine import Row
from . import Reader, placeholders

COLUMNS = "id, user_id, session_id, endpoint, p256dh, auth, failures, retry_at"
_CHUNK = 500  # ids per IN (...): well under SQLite's limit on bound parameters


async def save(
    tx: Tx,
    *,
    user_id: int,
    session_id: int,
    endpoint: str,
    p256dh: bytes,
    auth: bytes,
    now: int,
    keep: int,
) -> int:
    """Add or renew a device's subscription (an endpoint moves to whoever subscribes it
    last) and keep only the person's `keep` newest; returns its id."""
    row = await tx.fetchone(
        "INSERT INTO push_subscriptions(user_id, session_id, endpoint, p256dh, auth, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(endpoint) DO UPDATE SET"
        " user_id = excluded.user_id, session_id = excluded.session_id,"
        " p256dh = excluded.p256dh, auth = excluded.auth, created_at = excluded.created_at,"
        " failures = 0, retry_at = NULL RETURNING id",
        (user_id, session_id, endpoint, p256dh, auth, now),
    )
    assert row is not None
    await tx.execute(
        "DELETE FROM push_subscriptions WHERE user_id = ? AND id NOT IN"
        " (SELECT id FROM push_subscriptions WHERE user_id = ?"
        "  ORDER BY created_at DESC, id DESC LIMIT ?)",
        (user_id, user_id, keep),
    )
    return int(row[0])


async def remove(tx: Tx, user_id: int, endpoint: str) -> bool:
    row = await tx.fetchone(
        "DELETE FROM push_subscriptions WHERE user_id = ? AND endpoint = ? RETURNING 1",
        (user_id, endpoint),
    )
    return row is not None


async def remove_id(tx: Tx, subscription_id: int) -> None:
    await tx.execute("DELETE FROM push_subscriptions WHERE id = ?", (subscription_id,))


async def of_users(db: Reader, user_ids: Sequence[int]) -> list[Row]:
    found: list[Row] = []
    ids = list(user_ids)
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        found += await db.fetchall(
            f"SELECT {COLUMNS} FROM push_subscriptions"
            f" WHERE user_id IN ({placeholders(len(chunk))}) ORDER BY user_id, id",
            chunk,
        )
    return found


async def subscribers(db: Reader) -> set[int]:
    """Everyone with at least one subscription (kept in memory: most people have none)."""
    rows = await db.fetchall("SELECT DISTINCT user_id FROM push_subscriptions")
    return {int(r[0]) for r in rows}


async def has_any(db: Reader, user_id: int) -> bool:
    row = await db.fetchone("SELECT 1 FROM push_subscriptions WHERE user_id = ?", (user_id,))
    return row is not None


async def count(db: Reader) -> int:
    row = await db.fetchone("SELECT count(*) FROM push_subscriptions")
    return int(row[0]) if row else 0


async def succeeded(tx: Tx, subscription_id: int, now: int) -> None:
    await tx.execute(
        "UPDATE push_subscriptions SET last_success_at = ?, failures = 0, retry_at = NULL"
        " WHERE id = ?",
        (now, subscription_id),
    )


async def failed(tx: Tx, subscription_id: int, now: int, first_ms: int, max_ms: int) -> int:
    """Count one more failure and wait before the next try: `first_ms`, doubling with each
    failure in a row, at most `max_ms`. Returns the failures in a row so far."""
    row = await tx.fetchone(
        "UPDATE push_subscriptions SET failures = failures + 1,"
        " retry_at = ? + min(?, ? * (1 << min(failures, 20)))"
        " WHERE id = ? RETURNING failures",
        (now, max_ms, first_ms, subscription_id),
    )
    return int(row[0]) if row else 0
