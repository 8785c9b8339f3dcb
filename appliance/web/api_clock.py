"""Where trusted browsers report their time (appliance/clock/from_browsers.py):

POST /api/admin/clock   a signed-in admin's app, at sign-in and on every reconnect
POST /setup/clock       the setup wizard's pages, once the claim code was accepted
"""

from __future__ import annotations

from aiohttp import web

from ..chat import admin, setup
from ..errors import BadRequest, Forbidden
from ..privileged.validate import CLOCK_MAX_MS, CLOCK_MIN_MS
from ..state.app_keys import BROWSER_CLOCK, SERVICES, WIZARDS
from . import schemas as s
from .middleware import check_origin, read_json, require_session

REPORT = {"now_ms": s.Field(s.int_range(CLOCK_MIN_MS, CLOCK_MAX_MS - 1))}

routes = web.RouteTableDef()


@routes.post("/api/admin/clock")
async def admin_reports_time(request: web.Request) -> web.Response:
    svc = request.app[SERVICES]
    await admin.authorize(svc, await require_session(request))
    body = s.validate(REPORT, await read_json(request))
    return web.json_response(await request.app[BROWSER_CLOCK].report(body["now_ms"]))


@routes.post("/setup/clock")
async def wizard_reports_time(request: web.Request) -> web.Response:
    # Outside /api/, so the CSRF middleware does not cover it: the same checks here.
    check_origin(request)
    if request.content_type != "application/json":
        raise BadRequest("Send the request body as application/json.")
    if await setup.is_setup_done(request.app[SERVICES]):
        raise Forbidden("Setup is finished: admins report the time from the app.")
    if request.app[WIZARDS].of_browser(request.cookies) is None:
        raise Forbidden("Enter the claim code first.")
    body = s.validate(REPORT, await read_json(request))
    return web.json_response(await request.app[BROWSER_CLOCK].report(body["now_ms"]))
