"""REST: rooms, membership, history, threads, read status and search."""

from __future__ import annotations

from aiohttp import web

from ..chat import messages, rooms
from ..state.app_keys import SERVICES
from . import schemas as s
from .api_accounts import _path_id
from .middleware import read_json, require_session

routes = web.RouteTableDef()

NEW_ROOM = {
    "kind": s.Field(s.text(16)),
    "name": s.optional(s.Field(s.text(200)), nullable=True),
    "topic": s.optional(s.Field(s.text(1000)), nullable=True),
    "members": s.optional(s.Field(s.id_list(1000))),
}
ROOM_CHANGES = {
    "name": s.optional(s.Field(s.text(200))),
    "topic": s.optional(s.Field(s.text(1000))),
    "p2p": s.optional(s.BOOL),
}
USER_IDS = {"user_ids": s.Field(s.id_list(1000))}
MAX_ID = s.MAX_ID


@routes.get("/api/rooms")
async def list_rooms(request: web.Request) -> web.Response:
    session = await require_session(request)
    found, seq = await rooms.list_rooms(request.app[SERVICES], session.user_id)
    return web.json_response({"rooms": found, "seq": seq})


@routes.get("/api/channels")
async def list_channels(request: web.Request) -> web.Response:
    session = await require_session(request)
    found = await rooms.list_channels(request.app[SERVICES], session.user_id)
    return web.json_response({"channels": found})


@routes.post("/api/rooms")
async def create_room(request: web.Request) -> web.Response:
    session = await require_session(request)
    body = s.validate(NEW_ROOM, await read_json(request))
    room, created = await rooms.create_room(
        request.app[SERVICES],
        session.user_id,
        body["kind"],
        body.get("name"),
        body.get("topic"),
        body.get("members", []),
    )
    return web.json_response({"room": room}, status=201 if created else 200)


@routes.get("/api/rooms/{id}")
async def get_room(request: web.Request) -> web.Response:
    session = await require_session(request)
    room_id = _path_id(request, "id")
    room, seq = await rooms.get_room(request.app[SERVICES], session.user_id, room_id)
    return web.json_response({"room": room, "seq": seq})


@routes.patch("/api/rooms/{id}")
async def update_room(request: web.Request) -> web.Response:
    session = await require_session(request)
    body = s.validate(ROOM_CHANGES, await read_json(request))
    room = await rooms.update_room(
        request.app[SERVICES], session.user_id, _path_id(request, "id"), body
    )
    return web.json_response({"room": room})


@routes.post("/api/rooms/{id}/join")
async def join(request: web.Request) -> web.Response:
    session = await require_session(request)
    room = await rooms.join(request.app[SERVICES], session.user_id, _path_id(request, "id"))
    return web.json_response({"room": room})


@routes.post("/api/rooms/{id}/leave")
async def leave(request: web.Request) -> web.Response:
    session = await require_session(request)
    await rooms.leave(request.app[SERVICES], session, _path_id(request, "id"))
    return web.Response(status=204)


@routes.post("/api/rooms/{id}/hide")
async def hide(request: web.Request) -> web.Response:
    """Close a direct room in your sidebar, on every device, until a new message arrives."""
    session = await require_session(request)
    through = await rooms.set_hidden(
        request.app[SERVICES], session.user_id, _path_id(request, "id"), True
    )
    return web.json_response({"hidden_through": through})


@routes.delete("/api/rooms/{id}/hide")
async def show(request: web.Request) -> web.Response:
    session = await require_session(request)
    await rooms.set_hidden(request.app[SERVICES], session.user_id, _path_id(request, "id"), False)
    return web.json_response({"hidden_through": None})


@routes.post("/api/rooms/{id}/members")
async def add_members(request: web.Request) -> web.Response:
    session = await require_session(request)
    body = s.validate(USER_IDS, await read_json(request))
    room = await rooms.add_members(
        request.app[SERVICES], session.user_id, _path_id(request, "id"), body["user_ids"]
    )
    return web.json_response({"room": room})


@routes.delete("/api/rooms/{id}/members/{user_id}")
async def remove_member(request: web.Request) -> web.Response:
    session = await require_session(request)
    await rooms.remove_member(
        request.app[SERVICES],
        session.user_id,
        _path_id(request, "id"),
        _path_id(request, "user_id"),
    )
    return web.Response(status=204)


@routes.get("/api/rooms/{id}/messages")
async def history(request: web.Request) -> web.Response:
    session = await require_session(request)
    q = request.query
    limit = s.query_int(q, "limit", 1, 200, 50)
    assert limit is not None
    found, has_more = await messages.history(
        request.app[SERVICES],
        session.user_id,
        _path_id(request, "id"),
        before=s.query_int(q, "before", 1, MAX_ID, None),
        after=s.query_int(q, "after", 0, MAX_ID, None),
        limit=limit,
    )
    return web.json_response({"messages": found, "has_more": has_more})


@routes.get("/api/rooms/{id}/reads")
async def reads(request: web.Request) -> web.Response:
    session = await require_session(request)
    found = await messages.reads(request.app[SERVICES], session.user_id, _path_id(request, "id"))
    return web.json_response({"reads": found})


@routes.get("/api/messages/{id}/thread")
async def thread(request: web.Request) -> web.Response:
    session = await require_session(request)
    found = await messages.thread(request.app[SERVICES], session.user_id, _path_id(request, "id"))
    return web.json_response({"root": found[0], "replies": found[1:], "messages": found})


@routes.get("/api/search")
async def search(request: web.Request) -> web.Response:
    session = await require_session(request)
    q = request.query
    limit = s.query_int(q, "limit", 1, 200, 50)
    assert limit is not None
    found, has_more = await messages.search(
        request.app[SERVICES],
        session.user_id,
        q.get("q", ""),
        s.query_int(q, "room", 1, MAX_ID, None),
        s.query_int(q, "before", 1, MAX_ID, None),
        limit,
    )
    return web.json_response({"messages": found, "has_more": has_more})
