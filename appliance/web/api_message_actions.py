"""REST: send a message and mark one read over HTTP.

The app does both over its WebSocket; these routes are for the service worker's
notification actions ("Reply", "Mark as read"), which have no socket, only the session
cookie. They call the same actions as the socket's `message.send`, `read.mark` and
`thread.read`, so the rules, limits and events are the same.
"""

from __future__ import annotations

from aiohttp import web

from ..chat import messages
from ..chat.read_up_to import read_up_to
from ..state.app_keys import SERVICES
from . import schemas as s
from .api_accounts import _path_id
from .middleware import read_json, require_session

routes = web.RouteTableDef()


def _new_message(request: web.Request) -> dict[str, s.Field]:
    limits = request.app[SERVICES].settings.limits
    return {
        # Over-long bodies get `too_large` from the action, not a schema error (as on the socket).
        "body": s.Field(s.text(limits.message_chars * 4 + 64)),
        "client_id": s.Field(s.text(64)),
        "thread": s.optional(s.ID, nullable=True),
    }


@routes.post("/api/rooms/{id}/messages")
async def send(request: web.Request) -> web.Response:
    session = await require_session(request)
    room_id = _path_id(request, "id")
    body = s.validate(_new_message(request), await read_json(request))
    message = await messages.send(
        request.app[SERVICES],
        session.user_id,
        room_id,
        body["body"],
        body["client_id"],
        body.get("thread"),
        None,
    )
    return web.json_response({"message": message}, status=201)


@routes.post("/api/messages/{id}/read")
async def mark_read(request: web.Request) -> web.Response:
    """Read up to this message: the room's marker for a timeline message, its thread's
    marker for a reply. Answers the marker as it now is (markers only move forward)."""
    session = await require_session(request)
    done = await read_up_to(request.app[SERVICES], session.user_id, _path_id(request, "id"))
    return web.json_response({"room": done.room, "thread": done.thread, "message": done.marker})
