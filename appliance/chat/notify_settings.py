"""Reading and changing a person's notification settings (issue 16).

Each change is a write job that emits an event only her own devices receive
(`notify.settings`, `notify.room`), through the event log, so a device that was away
catches up by replay and every device applies the same rule (notify/policy.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..access import access_room
from ..db import Tx
from ..errors import BadRequest
from ..notify.policy import (
    KEYWORD_CHARS,
    LEVELS,
    MAX_AHEAD_MS,
    MAX_KEYWORDS,
    parse_hhmm,
)
from ..notify.settings import load_settings, person_api, room_api, to_api
from ..storage import notify_settings as stored
from ..visible_text import check_visible

if TYPE_CHECKING:
    from ..state.services import Services


@dataclass(frozen=True, slots=True)
class Until:
    """A mute or snooze as asked: for some minutes from now, or until a moment."""

    minutes: int | None = None
    until: int | None = None

    def resolve(self, now_ms: int, what: str) -> int:
        end = now_ms + self.minutes * 60_000 if self.minutes is not None else self.until
        if end is None or end <= now_ms:
            raise BadRequest(f"{what} must end in the future.")
        if end > now_ms + MAX_AHEAD_MS:
            raise BadRequest(f"{what} may last at most a year.")
        return end


async def get(svc: Services, user_id: int) -> dict[str, Any]:
    return to_api(await load_settings(svc.db, user_id))


async def update(svc: Services, user_id: int, changes: dict[str, Any]) -> dict[str, Any]:
    """Change the given fields of her own settings; `snooze` (an `Until` or None for off)
    sets `snoozed_until`. Returns all her settings."""
    now = svc.now_ms()
    values: dict[str, Any] = {}
    for name in ("direct_level", "group_level"):
        if name in changes:
            values[name] = _level(changes[name], name, nullable=False)
    if "keywords" in changes:
        values["keywords"] = clean_keywords(changes["keywords"])
    if ("dnd_start" in changes) != ("dnd_end" in changes):
        raise BadRequest("dnd_start and dnd_end are set together (both null: no quiet hours).")
    if "dnd_start" in changes:
        start, end = _hhmm(changes["dnd_start"], "dnd_start"), _hhmm(changes["dnd_end"], "dnd_end")
        if (start is None) != (end is None):
            raise BadRequest("dnd_start and dnd_end are both times or both null.")
        if start is not None and start == end:
            raise BadRequest("Quiet hours must start and end at different times.")
        values["dnd_start"], values["dnd_end"] = start, end
    if "snooze" in changes:
        snooze: Until | None = changes["snooze"]
        values["snoozed_until"] = None if snooze is None else snooze.resolve(now, "A snooze")
    if "hide_text" in changes:
        values["hide_text"] = bool(changes["hide_text"])
    if not values:
        return await get(svc, user_id)  # nothing asked: no write, no event

    async def job(tx: Tx) -> dict[str, Any]:
        await stored.put_person(tx, user_id, values)
        settings = await load_settings(tx, user_id)
        await tx.emit(
            "notify.settings", None, {"notifications": person_api(settings)}, now, user_id=user_id
        )
        return to_api(settings)

    return await svc.db.write(job)


async def update_room(
    svc: Services, user_id: int, room_id: int, changes: dict[str, Any]
) -> dict[str, Any]:
    """Her own level for one room (None: her default) and/or mute (an `Until`, None: off).
    Members only (404 otherwise). Returns all her settings."""
    await access_room(svc.db, user_id, room_id)
    if "level" not in changes and "mute" not in changes:
        return await get(svc, user_id)
    now = svc.now_ms()
    level = _level(changes["level"], "level", nullable=True) if "level" in changes else None
    mute: Until | None = changes.get("mute")
    muted_until = None if mute is None else mute.resolve(now, "A mute")

    async def job(tx: Tx) -> dict[str, Any]:
        own = (await load_settings(tx, user_id)).rooms.get(room_id)
        new_level = level if "level" in changes else (own.level if own else None)
        new_mute = muted_until if "mute" in changes else (own.muted_until if own else None)
        await stored.put_room(tx, user_id, room_id, new_level, new_mute)
        settings = await load_settings(tx, user_id)
        data = room_api(room_id, settings.rooms.get(room_id))
        await tx.emit("notify.room", None, data, now, user_id=user_id)
        return to_api(settings)

    return await svc.db.write(job)


def clean_keywords(raw: list[str]) -> list[str]:
    """Trimmed, runs of spaces made one, without repeats (ignoring case); bounded."""
    found: list[str] = []
    seen: set[str] = set()
    for item in raw:
        keyword = " ".join(item.split())
        if not 1 <= len(keyword) <= KEYWORD_CHARS:
            raise BadRequest(f"A keyword has 1 to {KEYWORD_CHARS} characters.")
        check_visible(keyword, "A keyword")
        if keyword.casefold() not in seen:
            seen.add(keyword.casefold())
            found.append(keyword)
    if len(found) > MAX_KEYWORDS:
        raise BadRequest(f"At most {MAX_KEYWORDS} keywords.")
    return found


def _level(value: Any, name: str, *, nullable: bool) -> str | None:
    if value is None and nullable:
        return None
    if value not in LEVELS:
        raise BadRequest(f"{name} must be one of {', '.join(LEVELS)}.")
    return str(value)


def _hhmm(value: str | None, name: str) -> str | None:
    if value is None:
        return None
    if parse_hhmm(value) is None:
        raise BadRequest(f'{name} must be a time of day as "HH:MM" (00:00 to 23:59).')
    return value
