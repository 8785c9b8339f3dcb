"""Middlewares: one error envelope, the setup gate, origin and content-type checks."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import hdrs, web
from aiohttp.helpers import parse_mimetype
from aiohttp.http_exceptions import HttpProcessingError

from .. import wire
from ..chat import accounts, setup
from ..chat.accounts import Session
from ..errors import (
    AppError,
    BadRequest,
    Forbidden,
    SetupRequired,
    Unauthorized,
    disk_full,
    internal_error_body,
)
from ..state.app_keys import SERVICES

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SESSION_COOKIE = "pychat_session"
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
# Routes that read a multipart upload themselves (streamed, size-limited). Forms from other
# sites cannot use them: a browser sends their Origin (refused) and no SameSite=Lax cookie.
MULTIPART_PATHS = frozenset(
    {"/api/admin/restore", "/api/admin/device/certificate", "/api/uploads", "/api/me/avatar"}
)
MULTIPART_PATTERN = re.compile(r"/api/rooms/[0-9]+/avatar")
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    429: "rate_limited",
}


def error_response(error: AppError) -> web.Response:
    headers = {}
    retry = getattr(error, "retry_after_s", None)
    if retry is not None:
        headers["Retry-After"] = str(max(1, int(retry + 0.999)))
    return web.json_response(error.body(), status=error.status, headers=headers)


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except AppError as e:
        return error_response(e)
    except web.HTTPException as e:
        if e.status < 400 or not request.path.startswith("/api/"):
            raise
        code = _HTTP_CODES.get(e.status, "bad_request")
        message = e.reason if e.status != 413 else f"The request is too large: {e.text}"
        body = {"error": {"code": code, "message": message}}
        return web.json_response(body, status=e.status)
    except ConnectionResetError:
        # The client went away mid-request (a tab closed during the WebSocket handshake): not
        # a server fault, so no traceback; the answer goes nowhere and aiohttp drops it.
        log.debug("%s %s: the client went away", request.method, request.path)
        return web.Response(status=400, text="The connection was closed.")
    except Exception as e:
        full = disk_full(e)
        if full is not None:
            # Not a bug: one line, not a traceback per refused write.
            log.warning("%s %s refused: the disk is full", request.method, request.path)
            return error_response(full)
        log.exception("unhandled error in %s %s", request.method, request.path)
        return web.json_response(internal_error_body(), status=500)


# Open before setup: the wizard, health, what a browser needs to trust the device, and
# robots.txt (a crawler must not be sent to the wizard).
_OPEN_PATHS = frozenset({"/api/health", "/setup", "/ca.crt", "/trust", "/robots.txt"})


def _is_open_path(path: str) -> bool:
    return path in _OPEN_PATHS or path.startswith(("/api/setup/", "/setup/"))


@web.middleware
async def setup_gate_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    svc = request.app[SERVICES]
    if not _is_open_path(request.path) and not await setup.is_setup_done(svc):
        if request.path.startswith("/api/"):
            raise SetupRequired("This Pychat is not set up yet: finish the setup first.")
        raise web.HTTPFound("/setup")
    return await handler(request)


def own_origin(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def check_origin(request: web.Request) -> None:
    origin = request.headers.get("Origin")
    if origin is not None and origin != own_origin(request):
        raise Forbidden("Requests from other sites are not accepted.")


@web.middleware
async def csrf_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """State-changing API calls: our own Origin only, and JSON (forms cannot send it).
    Any body: a charset and multipart boundary its reader can use; pages' forms parsed here."""
    if request.method in STATE_CHANGING:
        if request.path.startswith("/api/"):
            check_origin(request)
            if request.can_read_body and not _body_type_accepted(request):
                raise BadRequest("Send the request body as application/json.", code="bad_request")
        if request.can_read_body:
            check_body_type(request)
            if request.content_type in FORM_TYPES and not request.path.startswith("/api/"):
                await _read_form(request)
    return await handler(request)


async def _read_form(request: web.Request) -> None:
    """Parse a form (the setup wizard's pages) here, where a malformed one is a 400;
    aiohttp keeps the result, so the handler's own `request.post()` reads it from there."""
    try:
        await request.post()
    except (ValueError, LookupError, KeyError, HttpProcessingError):
        raise BadRequest("The form could not be read: send it as a browser would.") from None


def check_body_type(request: web.Request) -> None:
    """A body every reader can decode: a real text charset and, for multipart, a boundary
    (checked here once, cheaply, rather than failing deep inside some handler's parser)."""
    charset = request.charset
    if charset is not None:
        try:
            b"".decode(charset)  # LookupError for unknown names and for rot13, hex, zlib...
        except (LookupError, ValueError):
            raise BadRequest(f"Unknown charset: {charset[:40]!r}. Send UTF-8.") from None
    if request.content_type.startswith("multipart/"):
        boundary = parse_mimetype(request.headers.get(hdrs.CONTENT_TYPE, "")).parameters.get(
            "boundary", ""
        )
        if not 1 <= len(boundary) <= 70:  # RFC 2046 §5.1.1
            raise BadRequest("A multipart body needs a boundary of 1 to 70 characters.")


def _body_type_accepted(request: web.Request) -> bool:
    if request.content_type == "application/json":
        return True
    return request.content_type == "multipart/form-data" and (
        request.path in MULTIPART_PATHS or MULTIPART_PATTERN.fullmatch(request.path) is not None
    )


async def read_json(request: web.Request) -> Any:
    if not request.can_read_body:
        return {}
    raw = await request.read()
    try:
        # JSON is UTF-8 (RFC 8259); a declared charset is honoured only if it is a real one.
        text = raw.decode(request.charset or "utf-8")
    except LookupError:
        raise BadRequest("Unknown charset: send JSON as UTF-8.") from None
    except ValueError:
        raise BadRequest("The body is not text in its declared charset.") from None
    try:
        return wire.loads(text)
    except ValueError:
        # Bad JSON, too deep, numbers of more than 4300 digits, lone surrogates, NaN.
        raise BadRequest("The body is not valid JSON of Unicode text.") from None


async def require_session(request: web.Request) -> Session:
    session = await accounts.authenticate(
        request.app[SERVICES], request.cookies.get(SESSION_COOKIE)
    )
    if session is None:
        raise Unauthorized("Log in first.")
    return session


def client_address(request: web.Request) -> str:
    return request.remote or "unknown"


def set_session_cookie(request: web.Request, response: web.StreamResponse, token: str) -> None:
    days = request.app[SERVICES].settings.auth.session_days
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=days * 86400,
        httponly=True,
        samesite="Lax",
        secure=request.secure,
        path="/",
    )
