"""Move every stored deadline that was computed from a wall clock that has since stepped.

One list of them on purpose, so a new deadline column has one obvious place to be added
(clock/steps.py calls this in one transaction). A row whose stamp lies in [keep_from,
keep_until] was written after the step, with the new clock, and one stamped at or before
`trusted_until` was written while NTP vouched for the clock: both stay as they are.
"""

from __future__ import annotations

from ..db import Tx
from . import Reader
from . import settings as stored

TRUSTED_UNTIL = "clock_trusted_until"  # ms: stamps up to here were taken with a synced clock

# (table, the column telling when the row was last written, columns to move, extra filter)
_DEADLINES = (
    # A session's expiry slides from its last use: move both, and when it began.
    ("sessions", "last_used_at", ("created_at", "last_used_at", "expires_at"), ""),
    ("invites", "created_at", ("created_at", "expires_at"), ""),
    ("password_resets", "created_at", ("created_at", "expires_at"), ""),
    # Unsent uploads are swept `uploads.unattached_ttl_s` after created_at; sent ones are
    # history, like messages, and keep the time they had.
    ("uploads", "created_at", ("created_at",), " AND message_id IS NULL"),
)


async def shift_deadlines(
    tx: Tx, delta_ms: int, keep_from: int, keep_until: int, trusted_until: int
) -> dict[str, int]:
    """Add `delta_ms` to the deadlines of rows written before the step; rows moved per table."""
    moved: dict[str, int] = {}
    for table, stamp, columns, extra in _DEADLINES:
        # Expiry columns may be NULL (an invite without one): NULL + delta stays NULL.
        sets = ", ".join(f"{c} = {c} + :delta" for c in columns)
        rows = await tx.fetchall(
            f"UPDATE {table} SET {sets}"  # names from _DEADLINES only
            f" WHERE NOT ({stamp} BETWEEN :keep_from AND :keep_until)"
            f" AND {stamp} > :trusted{extra} RETURNING 1",
            {
                "delta": delta_ms,
                "keep_from": keep_from,
                "keep_until": keep_until,
                "trusted": trusted_until,
            },
        )
        moved[table] = len(rows)
    return moved


async def trusted_until(db: Reader) -> int:
    return int(await stored.get(db, TRUSTED_UNTIL, "0") or 0)


async def set_trusted_until(tx: Tx, ms: int) -> None:
    await stored.put(tx, TRUSTED_UNTIL, str(ms))
