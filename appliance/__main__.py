"""The `pychat` command: serve, init, user add|list|passwd, backup, restore, migrate,
factory-reset and turn, plus --version (README.md, "Commands", lists them with their
flags). Every command but turn works on a data folder: --data, else $PYCHAT_DATA, else
./data."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import resource
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__
from .config import ConfigError, Settings, load_settings, parse_listen
from .db import SchemaTooNew
from .db_health import EXIT_STATUS, DataFolderProblem, unreadable
from .engine_mark import NO_SQLITE_COMMANDS, on_postgresql
from .errors import AppError
from .rtc.cli import add_turn_arguments, run_turn

# Each command imports what it needs when it runs (bench/startup.py): `serve` with the
# cyclic garbage collector off until it listens.
if TYPE_CHECKING:
    from .state.services import Services

log = logging.getLogger("appliance")


def default_data_dir() -> Path:
    return Path(os.environ.get("PYCHAT_DATA", "data"))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pychat", description="Pychat, the LAN company chat.")
    parser.add_argument("--version", action="version", version=f"pychat {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def data_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--data", type=Path, default=None, help="data folder ($PYCHAT_DATA or ./data)"
        )

    def database_arg(p: argparse.ArgumentParser, *, bus: bool = False) -> None:
        p.add_argument(
            "--database",
            metavar="URL",
            help="postgresql://... instead of SQLite in the data folder (docs/scaling.md)",
        )
        if bus:
            p.add_argument("--bus", metavar="URL", help="redis://...: nodes tell each other")

    serve = sub.add_parser("serve", help="run the server")
    data_arg(serve)
    database_arg(serve, bus=True)
    serve.add_argument("--listen", help="HOST:PORT (default 127.0.0.1:8080; port 0 picks one)")
    serve.add_argument(
        "--allow-loopback-peers",
        action="store_true",
        help="TESTS ONLY: the built-in TURN server may relay to 127.0.0.0/8 and ::1",
    )

    init = sub.add_parser("init", help="first-boot setup without the wizard")
    data_arg(init)
    database_arg(init)
    init.add_argument("--org", required=True, help="organisation name")
    init.add_argument("--admin", required=True, help="the first admin's username")
    init.add_argument("--password-stdin", action="store_true", required=True)

    user = sub.add_parser("user", help="manage accounts").add_subparsers(
        dest="action", required=True
    )
    add = user.add_parser("add", help="create an account")
    data_arg(add)
    database_arg(add)
    add.add_argument("username")
    add.add_argument("--admin", action="store_true")
    add.add_argument("--display-name")
    add.add_argument("--password-stdin", action="store_true", required=True)
    listing = user.add_parser("list", help="list the people's accounts")
    data_arg(listing)
    database_arg(listing)
    passwd = user.add_parser("passwd", help="set a password (ends that user's sessions)")
    data_arg(passwd)
    database_arg(passwd)
    passwd.add_argument("username")
    passwd.add_argument("--password-stdin", action="store_true", required=True)

    turn = sub.add_parser("turn", help="run only the STUN/TURN server (docs/turn.md)")
    add_turn_arguments(turn)

    backup = sub.add_parser("backup", help="a consistent copy of the database, while serving")
    data_arg(backup)
    backup.add_argument("--out", type=Path, required=True)

    restoring = sub.add_parser(
        "restore",
        help="restore a backup archive (a running server applies it when it restarts)",
    )
    data_arg(restoring)
    restoring.add_argument("file", type=Path, help="a pychat-backup-*.tar.gz")
    restoring.add_argument("--dry-run", action="store_true", help="only check the backup")

    moving = sub.add_parser(
        "migrate",
        help="copy the data folder's database into PostgreSQL, resumable and verified"
        " (docs/scaling.md)",
    )
    data_arg(moving)
    moving.add_argument("--to", required=True, metavar="URL", help="postgresql://...")
    moving.add_argument("--chunk", type=int, default=5000, help="rows a transaction")

    reset = sub.add_parser(
        "factory-reset",
        help="back to the first boot: moves the data aside (docs/operations.md)",
    )
    data_arg(reset)
    reset.add_argument("--yes", action="store_true", help="really do it")
    return parser


def _read_password() -> str:
    line = sys.stdin.readline()
    return line.rstrip("\r\n")


@contextlib.asynccontextmanager
async def _offline_services(settings: Settings) -> AsyncIterator[Services]:
    """The chat actions without a server, for commands run on the device itself."""
    from .databases import database_for
    from .engine_mark import opened
    from .hub import Hub
    from .state.services import Services

    db = database_for(settings)
    await db.open()
    await opened(settings)
    svc = Services(settings=settings, db=db, hub=Hub())
    try:
        yield svc
    finally:
        await db.close()
        await asyncio.to_thread(svc.passwords.close)


def _with_services(settings: Settings, fn: Callable[[Services], Awaitable[Any]]) -> Any:
    async def run() -> Any:
        async with _offline_services(settings) as svc:
            return await fn(svc)

    return asyncio.run(run())


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "turn":
        return asyncio.run(run_turn(args))  # it configures its own logging
    # Commands other than serve log only warnings: their output is what was asked for.
    level = logging.INFO if args.command == "serve" else logging.WARNING
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    data = args.data if args.data is not None else default_data_dir()
    try:
        overrides = {
            setting: value
            for setting, value in (
                ("server.listen", getattr(args, "listen", None)),
                ("database.url", getattr(args, "database", None)),
                ("bus.url", getattr(args, "bus", None)),
            )
            if value
        }
        settings = load_settings(data, overrides=overrides)
        return _dispatch(args, settings)
    except ConfigError as e:
        print(f"pychat: configuration error: {e}", file=sys.stderr)
        return 2
    except AppError as e:
        print(f"pychat: {e.message}", file=sys.stderr)
        return 1
    except SchemaTooNew as e:
        print(f"pychat: {e}", file=sys.stderr)
        return 1
    except DataFolderProblem as e:
        print(f"pychat: {e}", file=sys.stderr)
        return EXIT_STATUS
    except sqlite3.DatabaseError as e:
        # A damaged page met later than the open (a command reading it): a diagnosis.
        print(f"pychat: {unreadable(settings.db_path, e)}", file=sys.stderr)
        return EXIT_STATUS


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "serve":
        if args.allow_loopback_peers and settings.appliance_mode:
            print(
                "pychat: --allow-loopback-peers is for tests only; refused in appliance mode",
                file=sys.stderr,
            )
            return 2
        return serve(settings, allow_loopback_peers=args.allow_loopback_peers)
    from .chat import accounts, registration, setup
    from .storage import users

    if args.command == "init":
        password = _read_password()
        _with_services(settings, lambda svc: setup.initialize(svc, args.org, args.admin, password))
        return 0
    if args.command in ("backup", "restore", "factory-reset") and on_postgresql(settings):
        print(f"pychat: {NO_SQLITE_COMMANDS}", file=sys.stderr)  # SQLite's file and folder
        return 2
    if args.command == "backup":
        from .backup.archive import backup_database

        backup_database(settings.db_path, args.out)
        return 0
    if args.command == "restore":
        from .backup.restore import restore_offline

        print(restore_offline(settings.data_dir, args.file, dry_run=args.dry_run))
        return 0
    if args.command == "factory-reset":
        return _factory_reset(args, settings)
    if args.command == "migrate":
        from .cluster.cli import run_migrate

        return run_migrate(args.to, args.chunk, settings.db_path)
    if args.action == "add":
        password = _read_password()
        _with_services(
            settings,
            lambda svc: registration.create_user(
                svc, args.username, password, display_name=args.display_name, admin=args.admin
            ),
        )
        return 0
    if args.action == "passwd":
        password = _read_password()
        _with_services(settings, lambda svc: accounts.reset_password(svc, args.username, password))
        return 0
    rows = _with_services(settings, lambda svc: users.people(svc.db))  # no system accounts
    for r in rows:
        flags = ("admin " if r["admin"] else "") + ("deactivated" if r["deactivated"] else "")
        print(f"{r['id']:>6}  {r['username']:<32}  {r['display_name']:<32}  {flags.strip()}")
    return 0


def _factory_reset(args: argparse.Namespace, settings: Settings) -> int:
    """Exit status: 0 done, 1 refused (a server runs, nothing to reset), 2 without --yes."""
    from .backup.factory_reset import ResetRefused, factory_reset
    from .backup.factory_reset import report as factory_reset_report

    if not args.yes:
        print(
            "pychat: factory-reset moves every account, room, message and certificate in"
            f" {settings.data_dir} aside and starts over with the setup wizard;"
            " add --yes to do it.",
            file=sys.stderr,
        )
        return 2
    try:
        aside, moved = factory_reset(settings.data_dir, settings.db_path)
    except ResetRefused as e:
        print(f"pychat: factory reset refused: {e}", file=sys.stderr)
        return 1
    print(factory_reset_report(settings.data_dir, aside, moved))
    return 0


def _raise_file_limit() -> None:
    # Every WebSocket is a file descriptor; the default soft limit (1024) is far too low.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _tune_garbage_collector() -> None:
    """Measured (bench/fanout.py): with thousands of sockets held, Python's cyclic collector
    pauses the loop for hundreds of ms at p99. Startup objects live for good: freeze them
    out of every scan; and collect the young generation less often. `serve` turned the
    collector off while it started (it ran ~140 times over the imports, ~0.25 s of a
    loaded 2-core machine, finding little): one collection once it listens, then on."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
    gc.enable()


def serve(settings: Settings, *, allow_loopback_peers: bool = False) -> int:
    gc.disable()  # until it listens: _tune_garbage_collector
    # Imported here for start-up time: the web app and its routes add half a second that
    # the other commands do not need.
    from aiohttp import web

    from .app import build_app
    from .chat import setup
    from .discovery.open_at import serving_urls
    from .state.app_keys import ANNOUNCER, DEVICE_TLS, SERVICES
    from .system import systemd
    from .system.netif import interface_addresses
    from .web.appliance_sites import ApplianceSites, start_appliance_sites
    from .web.connections import ConnectionGuard, runner_options
    from .web.guarded_site import GuardedSite

    _raise_file_limit()

    async def run() -> None:
        app = build_app(settings, allow_loopback_peers=allow_loopback_peers)
        app.cleanup_ctx.insert(0, systemd.watchdog_keepalive())  # first: covers the rest
        runner = web.AppRunner(
            app, handle_signals=False, access_log=None, **runner_options(settings)
        )
        try:
            await runner.setup()  # in appliance mode this makes or renews the certificate
        except BaseException:
            await _undo_failed_start(runner, app)
            raise
        sites: ApplianceSites | None = None
        guard = ConnectionGuard.from_settings(settings)  # counts every site's connections
        try:
            if settings.appliance_mode:
                from .tls.issue import lan_addresses

                device_tls = app[DEVICE_TLS]
                sites = await start_appliance_sites(runner, settings, device_tls, guard=guard)
                # Not the bind address (https://0.0.0.0:443): the name and LAN addresses,
                # or the one address it was told to listen on.
                bind, _ = parse_listen(settings.server.https_listen, name="server.https_listen")
                found = await asyncio.to_thread(lambda: lan_addresses(interface_addresses()))
                urls = serving_urls(device_tls.name, bind, sites.https_port, found, sites.https_url)
                url = " or ".join(urls)
                announcer = app.get(ANNOUNCER)
                if announcer is not None:  # `pychat-2` after a clash: the status follows

                    def follow(name: str | None) -> None:
                        if name is not None:
                            found_urls = serving_urls(
                                name, bind, sites.https_port, found, sites.https_url
                            )
                            systemd.notify_status(f"Serving on {' or '.join(found_urls)}")

                    announcer.add_listener(follow)
                print(f"Pychat listening on {url}", flush=True)
                print(f"Plain HTTP on port {sites.http_port} redirects there", flush=True)
                print(f"CA fingerprint (SHA-256): {device_tls.ca_fingerprint}", flush=True)
            else:
                host, port = parse_listen(settings.server.listen, name="server.listen")
                site = GuardedSite(runner, host, port, guard=guard)  # backlog: from NOFILE
                await site.start()
                bound = runner.addresses[0]
                shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
                url = f"http://{shown}:{bound[1]}"
                print(f"Pychat listening on {url}", flush=True)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            if not await setup.is_setup_done(app[SERVICES]):
                print(
                    f"This Pychat is not set up yet: open {url.split(' or ')[0]}/setup and"
                    " follow the setup wizard, or run\n"
                    f"  pychat init --data {settings.data_dir} --org 'Your company'"
                    " --admin admin --password-stdin",
                    flush=True,
                )
            systemd.notify_ready(f"Serving on {url}")  # every listener is up
            _tune_garbage_collector()  # after listening: its one collection takes ~0.1 s
            await stop.wait()
            systemd.notify_stopping("Stopping")
        finally:
            if sites is not None:
                await sites.stop()
            await runner.cleanup()
            guard.close()

    asyncio.run(run())
    return 0


async def _undo_failed_start(runner: Any, app: Any) -> None:
    """Stop what a failed start had started (the database's threads would otherwise keep
    the process alive, never listening, never exiting)."""
    from .state.app_keys import SERVICES

    try:
        await runner.cleanup()  # the started parts of app.cleanup_ctx, in reverse
    except Exception:
        log.exception("stopping after a failed start failed")
    await app[SERVICES].db.close()  # when the failure came before it could


if __name__ == "__main__":
    sys.exit(main())
