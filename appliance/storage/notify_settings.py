"""A person's notification settings and her own settings per room (migration 0012).

Rows only: turning them into `NotifySettings` is notify/settings.py's job, checking values
the chat layer's (chat/notify_settings.py).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..db import Tx
from ..engine import Row
from . import Reader, placeholders

PERSON_COLUMNS = (
    "direct_level",
    "group_level",
    "keywords",
    "dnd_start",
    "dnd_end",
    "snoozed_until",
    "hide_text",
)
_CHUNK = 500  # ids per IN (...): well under SQLite's limit on bound parameters


async def person(db: Reader, user_id: int) -> Row | None:
    return await db.fetchone(
        "SELECT user_id, " + ", ".join(PERSON_COLUMNS) + " FROM notify_settings WHERE user_id = ?",
        (user_id,),
    )


async def room_rows(db: Reader, user_id: int) -> list[Row]:
    return await db.fetchall(
        "SELECT user_id, room_id, level, muted_until FROM room_notify WHERE user_id = ?"
        " ORDER BY room_id",
        (user_id,),
    )


async def persons(db: Reader, user_ids: Sequence[int]) -> list[Row]:
    found: list[Row] = []
    for chunk in _chunks(user_ids):
        found += await db.fetchall(
            "SELECT user_id, " + ", ".join(PERSON_COLUMNS) + " FROM notify_settings"
            f" WHERE user_id IN ({placeholders(len(chunk))})",
            chunk,
        )
    return found


async def room_rows_of(db: Reader, user_ids: Sequence[int]) -> list[Row]:
    found: list[Row] = []
    for chunk in _chunks(user_ids):
        found += await db.fetchall(
            "SELECT user_id, room_id, level, muted_until FROM room_notify"
            f" WHERE user_id IN ({placeholders(len(chunk))}) ORDER BY user_id, room_id",
            chunk,
        )
    return found


async def put_person(tx: Tx, user_id: int, changes: dict[str, Any]) -> None:
    """Set the given columns (names from PERSON_COLUMNS; keywords as a list), keeping the rest."""
    values = {k: v for k, v in changes.items() if k in PERSON_COLUMNS}
    if "keywords" in values:
        values["keywords"] = json.dumps(list(values["keywords"]), ensure_ascii=False)
    if "hide_text" in values:
        values["hide_text"] = int(bool(values["hide_text"]))
    await tx.execute(
        "INSERT INTO notify_settings(user_id) VALUES (?) ON CONFLICT DO NOTHING", (user_id,)
    )
    if values:
        assignments = ", ".join(f"{column} = :{column}" for column in values)
        await tx.execute(
            f"UPDATE notify_settings SET {assignments} WHERE user_id = :user_id",
            {**values, "user_id": user_id},
        )


async def put_room(
    tx: Tx, user_id: int, room_id: int, level: str | None, muted_until: int | None
) -> None:
    """One room's own setting; nothing of its own (both None) removes the row."""
    if level is None and muted_until is None:
        await tx.execute(
            "DELETE FROM room_notify WHERE user_id = ? AND room_id = ?", (user_id, room_id)
        )
        return
    await tx.execute(
        "INSERT INTO room_notify(user_id, room_id, level, muted_until) VALUES (?, ?, ?, ?)"
        " ON CONFLICT(user_id, room_id) DO UPDATE SET level = excluded.level,"
        " muted_until = excluded.muted_until",
        (user_id, room_id, level, muted_until),
    )


def _chunks(ids: Sequence[int]) -> list[list[int]]:
    unique = sorted(set(ids))
    return [unique[i : i + _CHUNK] for i in range(0, len(unique), _CHUNK)]
