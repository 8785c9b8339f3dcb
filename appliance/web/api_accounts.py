"""REST: health, login and sessions, registration, profile, the user directory (the admin
area's routes, all of `/api/admin/`, are in api_admin.py)."""

from __future__ import annotations

from aiohttp import web

from .. import __version__
from ..chat import accounts, registration, setup
from ..state.app_keys import SERVICES
from . import schemas as s
from .middleware import (
    SESSION_COOKIE,
    client_address,
    read_json,
    require_session,
    set_session_cookie,
)

routes = web.RouteTableDef()

LOGIN = {"username": s.Field(s.text(64)), "password": s.Field(s.text(1024))}
REGISTER = {
    "username": s.Field(s.text(64)),
    "password": s.Field(s.text(1024)),
    "display_name": s.optional(s.Field(s.text(200)), nullable=True),
    "invite": s.optional(s.Field(s.text(128)), nullable=True),
}
PROFILE = {
    "display_name": s.optional(s.Field(s.text(200))),
    "status_text": s.optional(s.Field(s.text(500))),
    "timezone": s.optional(s.Field(s.text(64)), nullable=True),
    "avatar": s.optional(s.ID, nullable=True),
    "password": s.optional(s.Field(s.text(1024))),
    "old_password": s.optional(s.Field(s.text(1024))),
}


def _path_id(request: web.Request, name: str) -> int:
    return s.path_id(request.match_info[name])


@routes.get("/api/health")
async def health(request: web.Request) -> web.Response:
    done = await setup.is_setup_done(request.app[SERVICES])
    return web.json_response({"status": "ok", "version": __version__, "setup": done})


@routes.post("/api/auth/login")
async def login(request: web.Request) -> web.Response:
    body = s.validate(LOGIN, await read_json(request))
    token, user = await accounts.login(
        request.app[SERVICES],
        body["username"],
        body["password"],
        client_address(request),
        request.headers.get("User-Agent", ""),
    )
    response = web.json_response({"user": user})
    set_session_cookie(request, response, token)
    return response


@routes.post("/api/auth/logout")
async def logout(request: web.Request) -> web.Response:
    session = await require_session(request)
    await accounts.logout(request.app[SERVICES], session)
    response = web.Response(status=204)
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


@routes.post("/api/auth/register")
async def register(request: web.Request) -> web.Response:
    body = s.validate(REGISTER, await read_json(request))
    token, user = await registration.register(
        request.app[SERVICES],
        body["username"],
        body["password"],
        body.get("display_name"),
        body.get("invite"),
        client_address(request),
        request.headers.get("User-Agent", ""),
    )
    response = web.json_response({"user": user}, status=201)
    set_session_cookie(request, response, token)
    return response


@routes.get("/api/me")
async def me(request: web.Request) -> web.Response:
    session = await require_session(request)
    user = await accounts.get_user(request.app[SERVICES], session.user_id)
    return web.json_response({"user": user})


@routes.patch("/api/me")
async def update_me(request: web.Request) -> web.Response:
    session = await require_session(request)
    body = s.validate(PROFILE, await read_json(request))
    user = await accounts.update_profile(
        request.app[SERVICES], session, body, address=client_address(request)
    )
    return web.json_response({"user": user})


@routes.get("/api/sessions")
async def my_sessions(request: web.Request) -> web.Response:
    session = await require_session(request)
    found = await accounts.list_sessions(request.app[SERVICES], session)
    return web.json_response({"sessions": found})


@routes.delete("/api/sessions/{id}")
async def revoke_session(request: web.Request) -> web.Response:
    session = await require_session(request)
    await accounts.revoke_session(request.app[SERVICES], session, _path_id(request, "id"))
    return web.Response(status=204)


@routes.get("/api/users")
async def list_users(request: web.Request) -> web.Response:
    await require_session(request)
    svc = request.app[SERVICES]
    return web.json_response(
        {
            "users": await accounts.list_users(svc),
            "system_users": await accounts.list_system_users(svc),
        }
    )


@routes.get("/api/users/{id}")
async def get_user(request: web.Request) -> web.Response:
    await require_session(request)
    user = await accounts.get_user(request.app[SERVICES], _path_id(request, "id"))
    return web.json_response({"user": user})
