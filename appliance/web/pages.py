"""Pages outside the API and the web app. The setup wizard comes with its own issue; until
it ships, `/setup` says plainly how to finish setup on the device."""

from __future__ import annotations

import html

from aiohttp import web

from ..chat import setup
from .keys import SERVICES

routes = web.RouteTableDef()

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Pychat</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto">
<h1>Pychat</h1>{body}</body></html>"""


def _page(body: str) -> web.Response:
    return web.Response(
        text=_PAGE.format(body=body),
        content_type="text/html",
        headers={
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
            "Cache-Control": "no-cache",
        },
    )


@routes.get("/setup")
async def setup_page(request: web.Request) -> web.StreamResponse:
    if await setup.is_setup_done(request.app[SERVICES]):
        raise web.HTTPFound("/")
    data = html.escape(str(request.app[SERVICES].settings.data_dir))
    return _page(
        "<p>This Pychat is not set up yet. On the device, run:</p>"
        f"<pre>pychat init --data {data} --org 'Your company' --admin admin"
        " --password-stdin</pre><p>then reload this page.</p>"
    )


def not_built() -> web.Response:
    """What `/` shows when the web app has not been built (`make build`)."""
    return _page(
        "<p>The server is running, but the web app has not been built: run"
        " <code>make build</code>. The API is at <code>/api/</code>"
        " (see <code>docs/api.md</code>).</p>"
    )
