"""build_app(settings): routes, middlewares and the order resources start and stop in."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator

from aiohttp import web

from . import engine_mark, event_retention, logbuffer
from .backup import restore
from .backup.usb import UsbBackups
from .chat import accounts, membership
from .clock.from_browsers import BrowserClock
from .config import Settings, parse_listen
from .databases import database_for
from .db import Tx
from .discovery.device_name import default_name as default_device_name
from .discovery.open_at import app_urls
from .echo_bot.bot import EchoBot, echo_ctx
from .files import decoder as image_decoder
from .hub import Hub
from .mail.digest import DigestJob
from .mail.service import MailService
from .notify.missed import MissedMessages
from .passwords import dummy_hash
from .push.service import WebPush
from .setup_wizard.views import add_wizard
from .state.app_keys import (
    ANNOUNCER,
    BROWSER_CLOCK,
    DEVICE_TLS,
    ECHO_BOT,
    LOG_BUFFER,
    MAIL,
    SERVICES,
    STARTED_AT,
    TURN,
    USB_BACKUPS,
    WEB_PUSH,
    WS_COMMANDS,
)
from .state.services import Services
from .storage import rooms, users
from .storage import settings as stored
from .tls.device import DeviceTls
from .tls.renewal import tls_renewal
from .turn.builtin import TurnService, turn_ctx
from .web import (
    api_accounts,
    api_admin,
    api_clock,
    api_mail,
    api_message_actions,
    api_notify,
    api_push,
    api_rooms,
    api_test_call,
    api_turn,
    api_uploads,
    static,
    ws,
)
from .web.catch_up import catch_up_middleware
from .web.compression import compression_middleware
from .web.https_redirect import add_trust_routes
from .web.middleware import csrf_middleware, errors_middleware, setup_gate_middleware

log = logging.getLogger(__name__)
MAINTENANCE_EVERY_S = 2.0
PURGE_EVERY_S = 3600


def build_app(settings: Settings, *, allow_loopback_peers: bool = False) -> web.Application:
    app = web.Application(
        # Compression outermost: error replies and every handler's JSON pass through it.
        middlewares=[
            compression_middleware,
            errors_middleware,
            setup_gate_middleware,
            csrf_middleware,
            catch_up_middleware,  # innermost: a NotFound not yet heard here is asked again
        ],
        client_max_size=settings.limits.request_bytes,
    )
    hub = Hub(membership=membership.change_of)  # the hub reads no event payloads
    db = database_for(settings)
    svc = Services(settings=settings, db=db, hub=hub)
    app[SERVICES] = svc
    app[WS_COMMANDS] = ws.command_table(svc)
    for table in (
        api_accounts.routes,
        api_rooms.routes,
        api_admin.routes,
        api_clock.routes,
        api_mail.routes,  # email: SMTP settings, digests' opt-out, "Forgot password?"
        api_message_actions.routes,  # the service worker's notification actions
        api_notify.routes,  # notification settings
        api_push.routes,  # Web Push: the key, this device's subscription, the admin's switch
        api_turn.routes,
        api_test_call.routes,
        api_uploads.routes,
        ws.routes,
    ):
        app.add_routes(table)
    logs = logbuffer.LogBuffer()
    app[LOG_BUFFER] = logs
    # On PostgreSQL, no USB backups: they copy SQLite's file (admin_backups.require_sqlite).
    usb_dir = "" if settings.database.url else settings.backup.usb_dir
    usb_backups = UsbBackups(settings.data_dir, settings.db_path, usb_dir)
    app[USB_BACKUPS] = usb_backups
    app[STARTED_AT] = time.time()
    # A Pi without internet takes the time from admins' browsers (clock/from_browsers.py).
    app[BROWSER_CLOCK] = BrowserClock(
        settings.clock_from_browsers, svc.clock_steps, lambda: svc.clock()
    )

    async def device_name() -> str:
        return await stored.get(db, stored.DEVICE_NAME) or default_device_name(
            settings.discovery.name_before_setup
        )

    announcer = None
    if settings.mdns_enabled:
        from .discovery import announcer as mdns  # zeroconf: only where mDNS is on

        _, https_port = parse_listen(settings.server.https_listen, name="server.https_listen")
        # The name it announces is kept in the data folder for the console login banner.
        announcer = mdns.Announcer(https_port, record_in=settings.data_dir)
        app[ANNOUNCER] = announcer

    async def certificate_name() -> str:
        # After a clash on the LAN the device answers to <name>-2: the certificate follows.
        return (announcer.name if announcer is not None else None) or await device_name()

    device_tls = DeviceTls(settings.data_dir, device_name=certificate_name)
    app[DEVICE_TLS] = device_tls
    if announcer is not None:
        announcer.add_listener(lambda name: device_tls.wake())

    async def site_url() -> str:
        # Links in mail: where people open the app on the LAN (https://<name>.local).
        if not settings.appliance_mode:
            return f"http://{settings.server.listen}"
        _, port = parse_listen(settings.server.https_listen, name="server.https_listen")
        return app_urls(await certificate_name(), port, ())[0]

    app[MAIL] = MailService(
        db, site_url, timeout_s=settings.mail.send_timeout_s, queue=settings.mail.queue
    )
    add_trust_routes(app)  # GET /ca.crt and /trust, also over HTTPS
    static.add_routes(app)  # last: its catch-all serves the app for every other path
    app.cleanup_ctx.append(logbuffer.capture(logs))  # first: hears the database open
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_maintenance)
    if settings.bus.url:
        app.cleanup_ctx.append(_cluster_link)  # after _database: the hub is fed
    app.cleanup_ctx.append(api_uploads.housekeeping)  # after _database: sweeps unsent files
    image_decoder.install(app, settings.uploads)  # images decode in a bounded child process
    turn = TurnService(settings, allow_loopback_peers=allow_loopback_peers)
    app[TURN] = turn
    app.cleanup_ctx.append(turn_ctx(turn))  # after _database (issue 6: calls)
    app[ECHO_BOT] = echo_bot = EchoBot(svc, turn)
    app.cleanup_ctx.append(echo_ctx(echo_bot))  # after TURN: the bot's ICE server
    app.cleanup_ctx.append(usb_backups.ctx())  # after _database: it reads the database
    app.cleanup_ctx.append(_mail)  # after _database: the digest reads it
    app[WEB_PUSH] = push = WebPush(settings, db, lambda: svc.clock())
    app.cleanup_ctx.append(push.ctx())  # after _database: the switch and subscriptions
    # Wraps the database's on_commit (set in _database, next to the hub): missed messages.
    missed = MissedMessages(db, hub, push, settings.push.delay_s, lambda: svc.clock())
    app.cleanup_ctx.append(missed.ctx())
    if announcer is not None:
        app.cleanup_ctx.append(announcer.ctx(device_name))
    if settings.appliance_mode:
        app.cleanup_ctx.append(tls_renewal(device_tls))  # after _database: reads the name
    add_wizard(app)  # after the database: it checks whether setup is done
    app.on_shutdown.append(_close_sockets)
    return app


async def _database(app: web.Application) -> AsyncIterator[None]:
    svc = app[SERVICES]
    if engine_mark.on_postgresql(svc.settings):
        # A restore staged before the move to PostgreSQL would put SQLite's file back and
        # move the shared folder's files aside under the nodes: never applied here.
        if await asyncio.to_thread(restore.pending_restore, svc.settings.data_dir):
            log.warning("a staged restore is not applied: the data is in PostgreSQL")
    else:
        # A restore staged by the admin page (or `pychat restore`) goes in before the
        # database opens; a power cut part-way is finished here on the next start.
        await asyncio.to_thread(restore.apply_pending, svc.settings.data_dir)
    await svc.db.open()
    await engine_mark.opened(svc.settings)  # on PostgreSQL: the folder says so from now
    # Bounded and in the background; what trusts the database (the file sweep) waits for it.
    svc.db.start_integrity_check(svc.settings.db.integrity_check_s, svc.now_ms())
    svc.db.on_commit = svc.hub.publish  # MissedMessages.ctx wraps it (Web Push)
    svc.db.before_publish = svc.hub.hold  # a caller's event and reply: one write
    svc.db.on_settled = svc.hub.settled
    svc.hub.load_memberships(await rooms.all_memberships(svc.db))
    if not svc.settings.database.url:
        # Calls live in memory: a crash left some open. (On several nodes the others' calls
        # are live: docs/scaling.md.)
        await svc.calls.close_interrupted()
    svc.dummy_password_hash = dummy_hash(svc.settings.auth.scrypt_n)  # runs no scrypt

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
    await asyncio.to_thread(svc.passwords.close)  # its threads end with the server


async def _cluster_link(app: web.Application) -> AsyncIterator[None]:
    """Typing, presence, devices, calls, the count of password guesses and the per-account
    rate limits shared with the other nodes (cluster/link.py, cluster/limits.py)."""
    from .cluster.limits import SharedGuesses, SharedTokenBuckets  # the `cluster` extra
    from .cluster.link import NodeLink

    svc = app[SERVICES]
    link = NodeLink(svc.settings.bus.url, svc.hub)
    auth = svc.settings.auth
    svc.guesses = SharedGuesses(
        link.client,
        per_ip=auth.login_failures_per_ip,
        per_user=auth.login_failures_per_user,
        window_s=auth.login_window_s,
    )
    await link.open(svc.calls, svc.painter)  # before any socket: device ids name the node
    # The same buckets as one device's, in Redis; this node's own while Redis is away.
    shared = functools.partial(SharedTokenBuckets.beside, link.client)
    svc.send_limits = shared("send", svc.send_limits)
    svc.typing_limits = shared("typing", svc.typing_limits)
    svc.room_creates = shared("room-creates", svc.room_creates)
    svc.turn_requests = shared("turn", svc.turn_requests)
    svc.test_calls = shared("test-calls", svc.test_calls)
    svc.forgot_by_ip = shared("forgot-ip", svc.forgot_by_ip)
    svc.forgot_by_address = shared("forgot-address", svc.forgot_by_address)
    link.start()
    yield
    await link.close()


async def _maintenance(app: web.Application) -> AsyncIterator[None]:
    """Housekeeping: notice clock steps; publish events the `pychat` commands wrote; delete
    expired sessions and events older than the replay window."""
    svc = app[SERVICES]
    browser_clock = app[BROWSER_CLOCK]
    await svc.clock_steps.load()

    async def loop() -> None:
        # The hourly purge keeps its pace on the event loop's clock, which never steps.
        last_purge: float | None = None
        while True:
            now = asyncio.get_running_loop().time()
            try:
                # First: a clock step is corrected before anything judges an expiry. Asked
                # before the look: timesyncd sets the clock before it says it is synced.
                synced = await browser_clock.synchronized()
                await svc.clock_steps.settle(synchronized=synced)
                await svc.db.publish_foreign_events()
                window = svc.settings.ws.replay_limit
                if last_purge is None or now - last_purge >= PURGE_EVERY_S:
                    await accounts.purge_expired_sessions(svc)
                    await event_retention.prune(svc.db, window)
                    last_purge = now
                else:  # two indexed lookups unless the log is well past its window
                    await event_retention.prune(svc.db, window, event_retention.slack_of(window))
            except Exception:
                log.exception("housekeeping failed")
            await asyncio.sleep(MAINTENANCE_EVERY_S)

    task = asyncio.create_task(loop(), name="maintenance")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await svc.clock_steps.save()


async def _mail(app: web.Application) -> AsyncIterator[None]:
    """The mail sender's queue and the digest of missed messages (mail/)."""
    svc, mail = app[SERVICES], app[MAIL]
    digest = DigestJob(mail, svc.now_ms)
    async with mail.mailer.running(), digest.running(svc.settings.mail.check_every_s):
        yield


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background write failed", exc_info=task.exception())


async def _close_sockets(app: web.Application) -> None:
    # On one device calls end (and are recorded so) while their devices can hear it; on
    # several nodes this node's devices are away, and may rejoin through another node.
    await app[SERVICES].calls.end_all()
    # Without this, a SIGTERM waits for every open WebSocket to time out.
    app[SERVICES].hub.close_all()
    app[SERVICES].calls.close()  # their timers go with the sockets
    await app[SERVICES].calls.drain()  # records of calls just ended, before the database
