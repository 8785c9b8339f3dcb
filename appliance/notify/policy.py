"""The one rule that decides whether a message notifies a person (issue 16).

Pure: no I/O, no clock of its own. The server applies it before a Web Push or an email, and
the web app applies the same rule (src/notifications/policy.ts) before it shows one, so a
setting changed on one device means the same thing on every device and in every channel.
Both are tested against one table of cases (src/notifications/policyCases.json).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Level = Literal["all", "mentions", "nothing"]
RoomKind = Literal["channel", "private", "direct"]
LEVELS: tuple[Level, ...] = ("all", "mentions", "nothing")

# Bounds of what a person may set (the API refuses more; src/notifications/policy.ts has the
# same numbers for the settings page).
MAX_KEYWORDS = 20
KEYWORD_CHARS = 40
MAX_AHEAD_MS = 365 * 24 * 3600 * 1000  # a mute or a snooze ends within a year
_HHMM = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")


def parse_hhmm(text: str) -> time | None:
    """A time of day written "HH:MM" ("22:30"); None for anything else ("7:00", "24:00")."""
    found = _HHMM.fullmatch(text)
    return None if found is None else time(int(found[1]), int(found[2]))


def format_hhmm(value: time) -> str:
    return f"{value.hour:02d}:{value.minute:02d}"


@dataclass(frozen=True)
class RoomNotify:
    """One room's own setting; None keeps the person's default for that kind of room."""

    level: Level | None = None
    muted_until: int | None = None  # ms since the epoch; muted while now < muted_until


@dataclass(frozen=True)
class NotifySettings:
    """A person's notification settings, the same on all of her devices."""

    direct_level: Level = "all"
    group_level: Level = "mentions"  # channels and private rooms
    keywords: tuple[str, ...] = ()
    # Do not disturb every day from dnd_start to dnd_end in her time zone ("22:00"-"07:00"
    # spans midnight); None: no schedule.
    dnd_start: time | None = None
    dnd_end: time | None = None
    snoozed_until: int | None = None  # ms since the epoch: "snooze for 1 h"
    hide_text: bool = False  # notifications and emails say who and where, not what
    rooms: Mapping[int, RoomNotify] = field(default_factory=dict)


@dataclass(frozen=True)
class MessageFacts:
    """What the rule needs to know of one message, from one reader's point of view."""

    room_id: int
    room_kind: RoomKind
    author_id: int
    body: str
    mentions_reader: bool  # by name, or @room / @here where the room allows it


def room_level(settings: NotifySettings, room_id: int, room_kind: RoomKind) -> Level:
    own = settings.rooms.get(room_id)
    if own is not None and own.level is not None:
        return own.level
    return settings.direct_level if room_kind == "direct" else settings.group_level


def matches_keyword(settings: NotifySettings, body: str) -> bool:
    """A keyword matches as a whole word, ignoring case ("deploy" in "Deploy now!")."""
    for keyword in settings.keywords:
        if re.search(rf"(?<!\w){re.escape(keyword)}(?!\w)", body, re.IGNORECASE):
            return True
    return False


def _zone(name: str | None) -> ZoneInfo:
    """Her time zone; UTC when unknown (as the web app's twin does)."""
    try:
        return ZoneInfo(name) if name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def quiet_now(settings: NotifySettings, now_ms: int, timezone: str | None) -> bool:
    """Snoozed, or inside the do-not-disturb hours of her time zone (UTC if unknown)."""
    if settings.snoozed_until is not None and now_ms < settings.snoozed_until:
        return True
    start, end = settings.dnd_start, settings.dnd_end
    if start is None or end is None or start == end:
        return False
    local = datetime.fromtimestamp(now_ms / 1000, _zone(timezone)).time()
    if start < end:
        return start <= local < end
    return local >= start or local < end  # the quiet hours span midnight


def should_notify(
    settings: NotifySettings,
    message: MessageFacts,
    *,
    reader_id: int,
    now_ms: int,
    timezone: str | None,
) -> bool:
    """Whether this message notifies this reader now (being unread is the caller's check)."""
    if message.author_id == reader_id:
        return False
    own = settings.rooms.get(message.room_id)
    if own is not None and own.muted_until is not None and now_ms < own.muted_until:
        return False
    if quiet_now(settings, now_ms, timezone):
        return False
    level = room_level(settings, message.room_id, message.room_kind)
    if level == "nothing":
        return False
    if level == "all":
        return True
    return message.mentions_reader or matches_keyword(settings, message.body)
