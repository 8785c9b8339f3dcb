"""build_app(settings): routes, middlewares and the order resources start and stop in."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from .chat import accounts
from .chat.services import Services
from .config import Settings
from .db import Database, Tx
from .hub import Hub
from .passwords import dummy_hash
from .storage import rooms, users
from .web import api_accounts, api_rooms, pages, static, ws
from .web.keys import SERVICES
from .web.middleware import csrf_middleware, errors_middleware, setup_gate_middleware

log = logging.getLogger(__name__)
MAINTENANCE_EVERY_S = 2.0
PURGE_EVERY_S = 3600


def build_app(settings: Settings) -> web.Application:
    app = web.Application(
        middlewares=[errors_middleware, setup_gate_middleware, csrf_middleware],
        client_max_size=settings.limits.request_bytes,
    )
    hub = Hub()
    db = Database(settings.db_path, synchronous=settings.db.synchronous)
    svc = Services(settings=settings, db=db, hub=hub)
    app[SERVICES] = svc
    app[ws.COMMANDS] = ws.command_table(svc)
    for table in (api_accounts.routes, api_rooms.routes, ws.routes, pages.routes):
        app.add_routes(table)
    static.add_routes(app)  # last: its catch-all serves the app for every other path
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_maintenance)
    app.on_shutdown.append(_close_sockets)
    return app


async def _database(app: web.Application) -> AsyncIterator[None]:
    svc = app[SERVICES]
    await svc.db.open()
    svc.db.on_commit = svc.hub.publish
    svc.hub.load_memberships(await rooms.all_memberships(svc.db))
    svc.dummy_password_hash = await asyncio.to_thread(dummy_hash, svc.settings.auth.scrypt_n)

    def remember_last_seen(user_id: int) -> None:
        now = svc.now_ms()

        async def job(tx: Tx) -> None:
            await users.set_last_seen(tx, user_id, now)

        task = asyncio.get_running_loop().create_task(svc.db.write(job))
        task.add_done_callback(_log_failure)

    svc.hub.on_offline = remember_last_seen
    yield
    svc.hub.on_offline = lambda user_id: None
    await svc.db.close()


async def _maintenance(app: web.Application) -> AsyncIterator[None]:
    """Housekeeping: publish events the `pychat` commands wrote; delete expired sessions."""
    svc = app[SERVICES]

    async def loop() -> None:
        last_purge = 0.0
        while True:
            try:
                await svc.db.publish_foreign_events()
                if svc.clock() - last_purge >= PURGE_EVERY_S:
                    await accounts.purge_expired_sessions(svc)
                    last_purge = svc.clock()
            except Exception:
                log.exception("housekeeping failed")
            await asyncio.sleep(MAINTENANCE_EVERY_S)

    task = asyncio.create_task(loop(), name="maintenance")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background write failed", exc_info=task.exception())


async def _close_sockets(app: web.Application) -> None:
    # Without this, a SIGTERM waits for every open WebSocket to time out.
    app[SERVICES].hub.close_all()
