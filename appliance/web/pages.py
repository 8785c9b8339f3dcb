"""Small fixed answers of the server: the page shown in place of the web app when it has
not been built, and `/robots.txt`."""

from __future__ import annotations

from aiohttp import web

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


def not_built() -> web.Response:
    """What `/` shows when the web app has not been built (`make build`)."""
    return _page(
        "<p>The server is running, but the web app has not been built: run"
        " <code>make build</code>. The API is at <code>/api/</code>"
        " (see <code>docs/api.md</code>).</p>"
    )


# A private appliance: nothing on it is for search engines, and without this file the
# catch-all would answer /robots.txt with the app's HTML.
ROBOTS_TXT = "User-agent: *\nDisallow: /\n"


async def robots_txt(request: web.Request) -> web.Response:
    return web.Response(
        text=ROBOTS_TXT,
        content_type="text/plain",
        headers={"Cache-Control": "max-age=86400", "X-Content-Type-Options": "nosniff"},
    )
