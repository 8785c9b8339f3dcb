"""Middlewares: one error envelope, the setup gate, origin and content-type checks."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from .. import wire
from ..chat import accounts, setup
from ..chat.accounts import Session
from ..errors import (
    AppError,
    BadRequest,
    Forbidden,
    SetupRequired,
    Unauthorized,
    internal_error_body,
)
from .keys import SERVICES, SESSION_COOKIE

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
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
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return web.json_response(internal_error_body(), status=500)


# Open before setup: the wizard, health, and what a browser needs to trust the device.
_OPEN_PATHS = frozenset({"/api/health", "/setup", "/ca.crt", "/trust"})


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
    """State-changing API calls: our own Origin only, and JSON (forms cannot send it)."""
    if request.method in STATE_CHANGING and request.path.startswith("/api/"):
        check_origin(request)
        if request.can_read_body and not _body_type_accepted(request):
            raise BadRequest("Send the request body as application/json.", code="bad_request")
    return await handler(request)


def _body_type_accepted(request: web.Request) -> bool:
    if request.content_type == "application/json":
        return True
    return request.content_type == "multipart/form-data" and (
        request.path in MULTIPART_PATHS or MULTIPART_PATTERN.fullmatch(request.path) is not None
    )


async def read_json(request: web.Request) -> Any:
    if not request.can_read_body:
        return {}
    try:
        return wire.loads(await request.text())
    except ValueError:
        # Bad JSON, bad UTF-8, too deep, numbers of more than 4300 digits, lone surrogates.
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
