"""REST: Web Push. `GET /api/push/key` (is it on, and the key a browser subscribes with),
`POST`/`DELETE /api/push/subscriptions` (this device's subscription), and the admin's
switch, `GET`/`PATCH /api/admin/push`."""

from __future__ import annotations

from aiohttp import web

from ..chat import admin
from ..push.endpoints import MAX_ENDPOINT_CHARS
from ..state.app_keys import SERVICES, WEB_PUSH
from . import schemas as s
from .middleware import read_json, require_session

routes = web.RouteTableDef()

# PushSubscription.toJSON() as the browser gives it.
KEYS = {"p256dh": s.Field(s.text(200)), "auth": s.Field(s.text(100))}
SUBSCRIPTION = {
    "endpoint": s.Field(s.text(MAX_ENDPOINT_CHARS)),
    "keys": s.Field(s.json_object),
    "expirationTime": s.optional(s.Field(s.int_range(0, 1 << 53)), nullable=True),
}
ENDPOINT = {"endpoint": s.Field(s.text(MAX_ENDPOINT_CHARS))}
SWITCH = {"enabled": s.BOOL}


@routes.get("/api/push/key")
async def push_key(request: web.Request) -> web.Response:
    await require_session(request)
    return web.json_response(request.app[WEB_PUSH].public_key())


@routes.post("/api/push/subscriptions")
async def subscribe(request: web.Request) -> web.Response:
    session = await require_session(request)
    body = s.validate(SUBSCRIPTION, await read_json(request))
    keys = s.validate(KEYS, body["keys"])
    push = request.app[WEB_PUSH]
    subscription_id = await push.subscribe(
        session.user_id, session.id, body["endpoint"], keys["p256dh"], keys["auth"]
    )
    return web.json_response({"subscription": {"id": subscription_id}}, status=201)


@routes.delete("/api/push/subscriptions")
async def unsubscribe(request: web.Request) -> web.Response:
    session = await require_session(request)
    body = s.validate(ENDPOINT, await read_json(request))
    await request.app[WEB_PUSH].unsubscribe(session.user_id, body["endpoint"])
    return web.Response(status=204)


@routes.get("/api/admin/push")
async def push_status(request: web.Request) -> web.Response:
    session = await require_session(request)
    await admin.authorize(request.app[SERVICES], session)
    return web.json_response(await request.app[WEB_PUSH].status())


@routes.patch("/api/admin/push")
async def switch_push(request: web.Request) -> web.Response:
    session = await require_session(request)
    await admin.authorize(request.app[SERVICES], session)
    body = s.validate(SWITCH, await read_json(request))
    push = request.app[WEB_PUSH]
    await push.set_enabled(body["enabled"])
    return web.json_response(await push.status())
