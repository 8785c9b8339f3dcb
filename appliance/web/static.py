"""Serving the built single-page app: hashed assets cached for good, the shell never stale.

`appliance/web/static/` is the Vite build output (git-ignored; `make build`). App routes
that are not files get `index.html`, so deep links and reloads work.
"""

from __future__ import annotations

import mimetypes
import os
from pathlib import Path

from aiohttp import web

from ..state.app_keys import SERVED_STATIC_DIR
from .boot_preload import boot_preloads
from .pages import not_built, robots_txt

mimetypes.add_type("application/manifest+json", ".webmanifest")
STATIC_DIR = Path(__file__).resolve().parent / "static"

# No inline scripts and no outside origins: the appliance works with the internet unplugged.
CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob:",
        "font-src 'self'",
        "connect-src 'self'",
        "worker-src 'self'",
        "manifest-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(self), microphone=(self), display-capture=(self)",
}
APP_SHELL = "pychat_app_shell"  # marks the shell's response for _vary_with_preloads
IMMUTABLE = "public, max-age=31536000, immutable"
NO_CACHE = "no-cache"


def _cache_control(relative: str) -> str:
    # Vite puts content-hashed files under assets/; everything else may change in place.
    return IMMUTABLE if relative.startswith("assets/") else NO_CACHE


def _resolve(root: Path, tail: str) -> Path | None:
    """A file under root for a URL tail, never outside it."""
    if not tail or "\x00" in tail or "\\" in tail:
        return None
    parts = tail.split("/")
    if any(p in ("", ".", "..") or p.startswith(".") for p in parts):
        return None
    candidate = root.joinpath(*parts)
    try:
        candidate.resolve().relative_to(root.resolve())
    except ValueError:
        return None
    return candidate if candidate.is_file() else None


async def spa(request: web.Request) -> web.StreamResponse:
    root = request.app[SERVED_STATIC_DIR]
    tail = request.match_info.get("tail", "")
    found = _resolve(root, tail)
    relative = tail if found is not None else "index.html"
    target = found if found is not None else root / "index.html"
    if not target.is_file():
        return not_built()
    # The build keeps brotli and gzip copies beside each file (spa/build/compress.ts), sent
    # to browsers that accept them; every answer says so, for any cache in between.
    response = web.FileResponse(target)
    response.headers.update(SECURITY_HEADERS)
    response.headers["Vary"] = "Accept-Encoding"
    response.headers["Cache-Control"] = _cache_control(relative)
    if relative == "sw.js":
        response.headers["Service-Worker-Allowed"] = "/"
    if found is None:  # the app shell
        response[APP_SHELL] = True
        preloads = boot_preloads(request.path, request.query, request.headers, request.cookies)
        if preloads is not None:
            response.headers["Link"] = preloads
    return response


async def _vary_with_preloads(request: web.Request, response: web.StreamResponse) -> None:
    # After FileResponse has set its Vary (it replaces one set before): the shell's preloads
    # depend on the session cookie and on being opened as a page.
    if response.get(APP_SHELL):
        response.headers["Vary"] = "Accept-Encoding, Cookie, Sec-Fetch-Dest"


def add_routes(app: web.Application, static_dir: Path | None = None) -> None:
    # PYCHAT_STATIC_DIR: a build elsewhere (a developer testing one build while making another).
    app[SERVED_STATIC_DIR] = static_dir or Path(os.environ.get("PYCHAT_STATIC_DIR") or STATIC_DIR)
    app.on_response_prepare.append(_vary_with_preloads)
    app.router.add_get("/robots.txt", robots_txt)  # before the catch-all below
    # Never /api/...: an unknown API path must answer 404 for every method, not the app.
    app.router.add_get("/{tail:(?!api/).*}", spa)
