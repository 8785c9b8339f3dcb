"""REST: `GET /api/turn`, short-lived TURN credentials for the signed-in user."""

from __future__ import annotations

from aiohttp import web

from ..errors import RateLimited
from ..state.app_keys import SERVICES, TURN
from .middleware import require_session

routes = web.RouteTableDef()


@routes.get("/api/turn")
async def turn_credentials(request: web.Request) -> web.Response:
    session = await require_session(request)
    svc = request.app[SERVICES]
    turn = request.app[TURN]
    wait = await svc.turn_requests.take(str(session.user_id))
    if wait > 0:
        raise RateLimited("Too many TURN credential requests; wait a moment.", retry_after_s=wait)
    now = svc.clock()
    urls: list[str] = []
    if turn.running:
        where = f"{turn.url_host(request.headers.get('Host'))}:{turn.port}"
        urls = [f"turn:{where}?transport=udp", f"turn:{where}?transport=tcp", f"stun:{where}"]
    body = turn.credentials(session.user_id, now, urls)
    # Credentials are per user and expire: never cache them.
    return web.json_response(body, headers={"Cache-Control": "no-store"})
