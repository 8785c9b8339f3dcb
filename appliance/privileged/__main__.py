"""`python -m appliance.privileged` (installed as `pychat-helper`): docs/operations.md.

Asking (as root or the pychat user; the request goes to the root helper's socket):

    pychat-helper set-hostname NAME
    pychat-helper reboot
    pychat-helper shutdown
    pychat-helper wifi COUNTRY SSID          # the passphrase is the first line of stdin
    pychat-helper --check wifi DE Office     # validate and show the plan; send nothing

Run by systemd, as root:

    pychat-helper serve-connection [--allow-user pychat] [--dry-run]   # pychat-helper@.service
    pychat-helper sync-claim-code [--source FILE] [--dest FILE]        # pychat-claim-code.service

Exit status: 0 done, 1 refused or failed, 2 invalid arguments.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import pwd
import sys
from pathlib import Path

from . import claimcopy
from .client import SOCKET_PATH, HelperError, call_sync
from .commands import COMMANDS, UnknownCommand, build_plan
from .connection import allowed_uids, handle_connection, socket_from_systemd
from .executor import DryRun, StepFailed, SystemExecutor
from .validate import InvalidArgument

log = logging.getLogger("appliance.privileged")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pychat-helper", description="Pychat's narrow privileged operations."
    )
    parser.add_argument("--socket", type=Path, default=SOCKET_PATH, help="the helper's socket")
    parser.add_argument(
        "--check", action="store_true", help="only validate and show the plan; send nothing"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS.values():
        p = sub.add_parser(command.name, help=command.summary)
        for name in command.args:
            p.add_argument(name)
    serve = sub.add_parser("serve-connection", help="(systemd) answer the request on fd 3")
    serve.add_argument("--allow-user", default="pychat", help="the service account")
    serve.add_argument("--dry-run", action="store_true", help="describe, change nothing")
    sync = sub.add_parser("sync-claim-code", help="(systemd) copy the claim code to /boot")
    sync.add_argument("--source", type=Path, default=claimcopy.SOURCE)
    sync.add_argument("--dest", type=Path, default=claimcopy.DEST)
    sync.add_argument("--owner", default="pychat", help="the account that owns the source")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve-connection":
        return _serve_connection(args)
    if args.command == "sync-claim-code":
        return _sync_claim_code(args)
    return _ask(args)


def _ask(args: argparse.Namespace) -> int:
    command = COMMANDS[args.command]
    values = [getattr(args, name) for name in command.args]
    secret = _read_secret() if command.takes_secret else None
    if args.check:
        try:
            plan = build_plan(command.name, values, secret)
        except (InvalidArgument, UnknownCommand) as e:
            print(f"pychat-helper: {e}", file=sys.stderr)
            return 2
        print(DryRun().execute(plan))
        return 0
    try:
        message = call_sync(command.name, values, secret=secret, socket_path=args.socket)
    except HelperError as e:
        print(f"pychat-helper: {e.message}", file=sys.stderr)
        return 2 if e.code == "invalid_argument" else 1
    print(message)
    return 0


def _read_secret() -> str:
    if sys.stdin.isatty():
        return getpass.getpass("Wi-Fi passphrase: ")
    return sys.stdin.readline().rstrip("\r\n")


def _serve_connection(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        sock = socket_from_systemd()
    except (RuntimeError, OSError) as e:
        log.error("%s", e)
        return 1
    executor = DryRun() if args.dry_run else SystemExecutor()
    with sock:
        reply = handle_connection(sock, executor=executor, allowed=allowed_uids(args.allow_user))
    return 0 if reply.ok else 1


def _sync_claim_code(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        owner = pwd.getpwnam(args.owner).pw_uid
    except KeyError:
        log.error("user %r does not exist", args.owner)
        return 1
    try:
        log.info("%s", claimcopy.sync_claim_code(args.source, args.dest, owner_uid=owner))
    except (ValueError, OSError, StepFailed) as e:
        log.error("%s", e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
