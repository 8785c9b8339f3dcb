"""Painter boards: the ops of each room's board (migration 0004)."""

from __future__ import annotations

from ..db import Tx
from . import Reader, placeholders


class StaleBoard(Exception):
    """The board is past `seq - 1` (another node added an op first): catch up, plan anew."""

    def __init__(self, room_id: int, seq: int) -> None:
        super().__init__(f"board {room_id} is past seq {seq - 1}")
        self.seq = seq


async def load(db: Reader, room_id: int) -> tuple[int, list[tuple[int, str]]]:
    """The board's seq and its ops as (seq, op JSON), oldest first; (0, []) if none yet."""
    row = await db.fetchone("SELECT seq FROM boards WHERE room_id = ?", (room_id,))
    if row is None:
        return 0, []
    rows = await db.fetchall(
        "SELECT seq, op FROM board_ops WHERE room_id = ? ORDER BY seq", (room_id,)
    )
    return int(row[0]), [(int(r[0]), str(r[1])) for r in rows]


async def since(db: Reader, room_id: int, seq: int) -> tuple[int, int, list[tuple[int, str]]]:
    """What the board is now, beside a copy of it at `seq`: its seq, how many of its ops are
    at or below `seq` (fewer than the copy holds: some were folded away), and its ops above
    `seq` as (seq, op JSON), oldest first."""
    row = await db.fetchone("SELECT seq FROM boards WHERE room_id = ?", (room_id,))
    kept = await db.fetchone(
        "SELECT count(*) FROM board_ops WHERE room_id = ? AND seq <= ?", (room_id, seq)
    )
    newer = await db.fetchall(
        "SELECT seq, op FROM board_ops WHERE room_id = ? AND seq > ? ORDER BY seq", (room_id, seq)
    )
    return (
        int(row[0]) if row else 0,
        int(kept[0]) if kept else 0,
        [(int(r[0]), str(r[1])) for r in newer],
    )


async def save_op(
    tx: Tx,
    room_id: int,
    seq: int,
    now: int,
    *,
    op: tuple[str, int, str] | None,
    drop: tuple[int, ...] = (),
) -> bool:
    """Move the board from `seq - 1` to `seq`: delete folded ops, then store `op` (id,
    author, JSON). False, with nothing changed, when the board is not at `seq - 1`
    (another node added an op first: several nodes share the database)."""
    if seq == 1:
        moved = await tx.fetchone(
            "INSERT INTO boards(room_id, seq, updated_at) VALUES (?, ?, ?)"
            " ON CONFLICT(room_id) DO NOTHING RETURNING seq",
            (room_id, seq, now),
        )
    else:
        # One statement: on PostgreSQL a node that waited for another's row lock checks
        # the seq again on the row as that one left it.
        moved = await tx.fetchone(
            "UPDATE boards SET seq = ?, updated_at = ? WHERE room_id = ? AND seq = ? RETURNING seq",
            (seq, now, room_id, seq - 1),
        )
    if moved is None:
        return False
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
    return True
