"""REST: a person's notification settings (issue 16), the same on all of her devices."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..chat import notify_settings
from ..chat.notify_settings import Until
from ..errors import BadRequest
from ..notify.policy import KEYWORD_CHARS, MAX_KEYWORDS
from ..state.app_keys import SERVICES
from . import schemas as s
from .middleware import read_json, require_session

routes = web.RouteTableDef()

MINUTES_IN_A_YEAR = 365 * 24 * 60
_MINUTES = s.int_range(1, MINUTES_IN_A_YEAR)
_UNTIL = s.int_range(1, s.MAX_ID)


def _until(name: str, value: Any) -> Until:
    """{"minutes": n} or {"until": ms since the epoch}; the chat layer bounds the end."""
    if not isinstance(value, dict) or len(value) != 1 or not {"minutes", "until"} >= set(value):
        raise BadRequest(f'{name} must be {{"minutes": n}}, {{"until": ms}} or null.')
    if "minutes" in value:
        return Until(minutes=_MINUTES(f"{name}.minutes", value["minutes"]))
    return Until(until=_UNTIL(f"{name}.until", value["until"]))


def _keywords(name: str, value: Any) -> list[str]:
    # Room for repeats, which are dropped; the chat layer counts what remains.
    if not isinstance(value, list) or len(value) > 2 * MAX_KEYWORDS:
        raise BadRequest(f"{name} must be a list of at most {MAX_KEYWORDS} keywords.")
    return [s.text(KEYWORD_CHARS + 20)(f"{name}[]", v) for v in value]


LEVEL = s.Field(s.text(16))
HHMM = s.optional(s.Field(s.text(8)), nullable=True)
PERSON = {
    "direct_level": s.optional(LEVEL),
    "group_level": s.optional(LEVEL),
    "keywords": s.optional(s.Field(_keywords)),
    "dnd_start": HHMM,
    "dnd_end": HHMM,
    "snooze": s.optional(s.Field(_until), nullable=True),
    "hide_text": s.optional(s.BOOL),
}
ROOM = {
    "level": s.optional(LEVEL, nullable=True),
    "mute": s.optional(s.Field(_until), nullable=True),
}


@routes.get("/api/me/notifications")
async def get_settings(request: web.Request) -> web.Response:
    session = await require_session(request)
    found = await notify_settings.get(request.app[SERVICES], session.user_id)
    return web.json_response({"notifications": found})


@routes.put("/api/me/notifications")
async def put_settings(request: web.Request) -> web.Response:
    session = await require_session(request)
    body = s.validate(PERSON, await read_json(request))
    found = await notify_settings.update(request.app[SERVICES], session.user_id, body)
    return web.json_response({"notifications": found})


@routes.put("/api/rooms/{id}/notifications")
async def put_room_settings(request: web.Request) -> web.Response:
    session = await require_session(request)
    room_id = s.path_id(request.match_info["id"])
    body = s.validate(ROOM, await read_json(request))
    found = await notify_settings.update_room(request.app[SERVICES], session.user_id, room_id, body)
    return web.json_response({"notifications": found})
