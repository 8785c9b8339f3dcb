"""Typed application keys: where state lives on the aiohttp Application (no singletons)."""

from __future__ import annotations

from aiohttp import web

from .services import Services

SERVICES = web.AppKey("services", Services)
SESSION_COOKIE = "pychat_session"
