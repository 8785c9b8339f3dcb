"""REST: `POST /api/test-call`, the user's direct room with the echo bot."""

from __future__ import annotations

from aiohttp import web

from ..echo_bot.account import test_call_room
from ..errors import RateLimited
from ..state.app_keys import ECHO_BOT, SERVICES
from .middleware import require_session

routes = web.RouteTableDef()


@routes.post("/api/test-call")
async def start_test_call(request: web.Request) -> web.Response:
    session = await require_session(request)
    svc = request.app[SERVICES]
    bot = request.app[ECHO_BOT]
    wait = await svc.test_calls.take(str(session.user_id))
    if wait > 0:
        raise RateLimited("Too many test calls; wait a moment.", retry_after_s=wait)
    await bot.ensure()
    room = await test_call_room(svc, session.user_id)
    return web.json_response({"room": room})
