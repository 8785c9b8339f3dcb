"""A person's notification settings as the rule takes them (`NotifySettings`), loaded from
the database, and as the API shows them.

The push and email senders call `load_settings` / `load_many`; the chat layer changes them
(chat/notify_settings.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from ..engine import Row
from ..storage import Reader
from ..storage import notify_settings as stored
from .policy import LEVELS, Level, NotifySettings, RoomNotify, format_hhmm, parse_hhmm


async def load_settings(reader: Reader, user_id: int) -> NotifySettings:
    row = await stored.person(reader, user_id)
    return _settings(row, await stored.room_rows(reader, user_id))


async def load_many(reader: Reader, user_ids: Iterable[int]) -> dict[int, NotifySettings]:
    """Every id asked for has an entry: the defaults when she never changed anything."""
    ids = sorted(set(user_ids))
    people = {int(r["user_id"]): r for r in await stored.persons(reader, ids)}
    rooms: dict[int, list[Row]] = {}
    for r in await stored.room_rows_of(reader, ids):
        rooms.setdefault(int(r["user_id"]), []).append(r)
    return {uid: _settings(people.get(uid), rooms.get(uid, [])) for uid in ids}


def person_api(settings: NotifySettings) -> dict[str, Any]:
    """The person's own fields on the wire (docs/api.md, "Notification settings")."""
    return {
        "direct_level": settings.direct_level,
        "group_level": settings.group_level,
        "keywords": list(settings.keywords),
        "dnd_start": None if settings.dnd_start is None else format_hhmm(settings.dnd_start),
        "dnd_end": None if settings.dnd_end is None else format_hhmm(settings.dnd_end),
        "snoozed_until": settings.snoozed_until,
        "hide_text": settings.hide_text,
    }


def room_api(room_id: int, own: RoomNotify | None) -> dict[str, Any]:
    own = own or RoomNotify()
    return {"room": room_id, "level": own.level, "muted_until": own.muted_until}


def to_api(settings: NotifySettings) -> dict[str, Any]:
    rooms = {str(rid): room_api(rid, own) for rid, own in sorted(settings.rooms.items())}
    return {**person_api(settings), "rooms": rooms}


def _settings(row: Row | None, room_rows: list[Row]) -> NotifySettings:
    rooms = {
        int(r["room_id"]): RoomNotify(
            level=_level(r["level"]),
            muted_until=None if r["muted_until"] is None else int(r["muted_until"]),
        )
        for r in room_rows
    }
    if row is None:
        return NotifySettings(rooms=rooms)
    start = parse_hhmm(row["dnd_start"]) if row["dnd_start"] is not None else None
    end = parse_hhmm(row["dnd_end"]) if row["dnd_end"] is not None else None
    return NotifySettings(
        direct_level=_level(row["direct_level"]) or "all",
        group_level=_level(row["group_level"]) or "mentions",
        keywords=tuple(_keywords(row["keywords"])),
        dnd_start=start if end is not None else None,
        dnd_end=end if start is not None else None,
        snoozed_until=None if row["snoozed_until"] is None else int(row["snoozed_until"]),
        hide_text=bool(row["hide_text"]),
        rooms=rooms,
    )


def _level(value: object) -> Level | None:
    for level in LEVELS:
        if value == level:
            return level
    return None


def _keywords(raw: object) -> list[str]:
    try:
        found = json.loads(str(raw))
    except ValueError:
        return []
    return [k for k in found if isinstance(k, str) and k] if isinstance(found, list) else []
