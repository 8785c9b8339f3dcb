"""Painter boards: the ops of each room's board (migration 0004)."""

from __future__ import annotations

from ..db import Tx
from . import Reader, placeholders


async def load(db: Reader, room_id: int) -> tuple[int, list[tuple[int, str]]]:
    """The board's seq and its ops as (seq, op JSON), oldest first; (0, []) if none yet."""
    row = await db.fetchone("SELECT seq FROM boards WHERE room_id = ?", (room_id,))
    if row is None:
        return 0, []
    rows = await db.fetchall(
        "SELECT seq, op FROM board_ops WHERE room_id = ? ORDER BY seq", (room_id,)
    )
    return int(row[0]), [(int(r[0]), str(r[1])) for r in rows]


async def save_op(
    tx: Tx,
    room_id: int,
    seq: int,
    now: int,
    *,
    op: tuple[str, int, str] | None,
    drop: tuple[int, ...] = (),
) -> None:
    """Move the board to `seq`: delete folded ops, then store `op` (id, author, JSON)."""
    await tx.execute(
        "INSERT INTO boards(room_id, seq, updated_at) VALUES (?, ?, ?)"
        " ON CONFLICT(room_id) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at",
        (room_id, seq, now),
    )
    for start in range(0, len(drop), 500):
        chunk = drop[start : start + 500]
        await tx.execute(
            f"DELETE FROM board_ops WHERE room_id = ? AND seq IN ({placeholders(len(chunk))})",
            (room_id, *chunk),
        )
    if op is not None:
        op_id, author, text = op
        await tx.execute(
            "INSERT INTO board_ops(room_id, seq, op_id, author, op) VALUES (?, ?, ?, ?, ?)",
            (room_id, seq, op_id, author, text),
        )
