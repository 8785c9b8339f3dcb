"""The admin area's actions: people, invites, one-time password reset links, the
organisation's settings, storage use, logs and version. Device and backup actions are in
`admin_device` and `admin_backups`.

Every action takes an `Admin`, which only `authorize` makes: the type says the caller was
checked to be an active admin before anything else happened (a handler authorizes before
it reads a body, so a non-admin learns nothing from validation errors either). The
functions these actions share with the command line and the setup wizard
(`registration.create_user`, `registration.create_invite`) check nobody: only trusted
callers and the actions here call them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import platform
import secrets
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..db import Tx, migration_scripts
from ..db_health import damage_of, found_damage
from ..errors import Conflict, Forbidden, NotFound
from ..logbuffer import LogBuffer
from ..storage import invites, resets, sessions, stats, users
from ..storage import settings as stored_settings
from . import registration, setup
from .accounts import Session, check_password, save_user, token_hash

if TYPE_CHECKING:
    from ..state.services import Services

log = logging.getLogger(__name__)
RESET_LINK_MS = 24 * 3600 * 1000
MAX_TOKEN_CHARS = 128
KEPT_BY_POSTGRESQL = (
    "PostgreSQL guards its own pages (its write-ahead log, and data checksums where the"
    " cluster has them): Pychat runs no check of its own there."
)
NEWEST_SCHEMA = migration_scripts()[-1][0]  # read once: the package's files do not change
BAD_RESET_LINK = "This reset link is not valid: it was used already, has expired, or is wrong."


@dataclass(frozen=True, slots=True)
class Admin:
    """An active admin, checked by `authorize`."""

    user_id: int


async def authorize(svc: Services, session: Session) -> Admin:
    """The session's user as an `Admin`; 403 unless an admin whose account is active."""
    row = await users.get(svc.db, session.user_id)
    if row is None or not row["admin"] or row["deactivated"]:
        raise Forbidden("Only an admin may do that.")
    return Admin(session.user_id)


# -- people ---------------------------------------------------------------------------------


async def list_users(svc: Services, admin: Admin) -> list[dict[str, Any]]:
    """Every person's account with its flags, last seen time and creation time (system
    accounts are not people: not listed, and every action below answers 404 for them)."""
    return [
        {
            **users.to_api(r, online=svc.hub.is_online(int(r["id"]))),
            "created_at": r["created_at"],
        }
        for r in await users.people(svc.db)
    ]


async def create_user(
    svc: Services,
    admin: Admin,
    username: str,
    password: str,
    *,
    display_name: str | None,
    make_admin: bool,
    address: str,
) -> dict[str, Any]:
    """A new account; `address` is the admin's (it holds a place in the hashing queue)."""
    return await registration.create_user(
        svc, username, password, display_name=display_name, admin=make_admin, address=address
    )


async def update_user(
    svc: Services, admin: Admin, user_id: int, changes: dict[str, bool]
) -> dict[str, Any]:
    """Make someone an admin or not, deactivate or reactivate them; never oneself. A
    deactivation ends the account's sessions and sockets, and its TURN relays."""
    if await users.person(svc.db, user_id) is None:
        raise NotFound("No such user.")
    fields = {k: int(v) for k, v in changes.items() if k in ("deactivated", "admin")}
    if user_id == admin.user_id and (fields.get("deactivated") == 1 or fields.get("admin") == 0):
        raise Conflict("You cannot remove your own admin rights or deactivate yourself.")
    user = await save_user(svc, user_id, fields, keep_session=None)
    if fields.get("deactivated"):
        svc.hub.close_user(user_id, "account deactivated")
    if "deactivated" in fields:
        for listener in svc.account_listeners:  # the TURN server ends its relays
            listener(user_id, bool(fields["deactivated"]))
    return user


async def create_reset_link(svc: Services, admin: Admin, user_id: int) -> tuple[str, int]:
    """A one-time reset token for the user (valid 24 h; replaces an older one). Returns the
    token, which is shown once and stored only as its SHA-256, and its expiry."""
    row = await users.person(svc.db, user_id)
    if row is None:
        raise NotFound("No such user.")
    if row["deactivated"]:
        raise Conflict("The account is deactivated: reactivate it first.")
    token = secrets.token_urlsafe(32)
    now = svc.now_ms()
    expires = now + RESET_LINK_MS

    async def job(tx: Tx) -> None:
        await resets.replace(tx, user_id, token_hash(token), admin.user_id, now, expires)

    await svc.db.write(job)
    log.info("admin %d made a password reset link for user %d", admin.user_id, user_id)
    return token, expires


async def reset_password(svc: Services, token: str, password: str) -> None:
    """`POST /api/auth/reset`: set the password with a reset link, once; every session and
    socket of the account ends."""
    check_password(password)
    if not token or len(token) > MAX_TOKEN_CHARS:
        raise Forbidden(BAD_RESET_LINK)
    digest = token_hash(token)
    await svc.clock_steps.settle()  # a link's deadline is judged against the clock
    user_id = await resets.valid_user(svc.db, digest, svc.now_ms())
    row = None if user_id is None else await users.get(svc.db, user_id)
    if row is None:
        raise Forbidden(BAD_RESET_LINK)
    if row["deactivated"]:
        raise Forbidden("This account is deactivated; ask an admin.")
    # Hashed before the transaction (a thread, slow by design), used only if the link is.
    password_hash = await svc.passwords.hash(password, svc.settings.auth.scrypt_n)
    now = svc.now_ms()

    async def job(tx: Tx) -> int:
        owner = await resets.consume(tx, digest, now)
        if owner is None:  # used by a concurrent request a moment ago
            raise Forbidden(BAD_RESET_LINK)
        await users.update(tx, owner, {"password_hash": password_hash})
        await sessions.delete_for_user(tx, owner)
        return owner

    owner = await svc.db.write(job)
    svc.hub.close_user(owner, "password reset")
    log.info("user %d set a new password with a reset link", owner)


# -- invites --------------------------------------------------------------------------------


async def list_invites(svc: Services, admin: Admin) -> list[dict[str, Any]]:
    """Every invite and its state; never a code (only its hash is stored)."""
    now = svc.now_ms()
    found = []
    for r in await invites.all_invites(svc.db):
        expired = r["expires_at"] is not None and r["expires_at"] <= now
        state = "expired" if expired else "used" if r["uses_left"] <= 0 else "active"
        found.append(
            {
                "id": r["id"],
                "created_by": r["created_by"],
                "created_at": r["created_at"],
                "expires_at": r["expires_at"],
                "uses_left": r["uses_left"],
                "state": state,
            }
        )
    return found


async def create_invite(svc: Services, admin: Admin, uses: int, expires_in_s: int | None) -> str:
    """A new invite code (shown once; only its hash is stored)."""
    return await registration.create_invite(svc, admin.user_id, uses, expires_in_s)


async def revoke_invite(svc: Services, admin: Admin, invite_id: int) -> None:
    async def job(tx: Tx) -> bool:
        return await invites.delete(tx, invite_id)

    if not await svc.db.write(job):
        raise NotFound("No such invite.")
    log.info("admin %d revoked invite %d", admin.user_id, invite_id)


# -- the organisation's settings ------------------------------------------------------------


async def org_settings(svc: Services, admin: Admin) -> dict[str, Any]:
    return await setup.get_org_settings(svc)


async def update_org_settings(
    svc: Services, admin: Admin, changes: dict[str, str]
) -> dict[str, Any]:
    """Organisation name and registration policy (`invite`, `open`, `closed`)."""
    values: dict[str, str] = {}
    if "registration" in changes:
        values[stored_settings.REGISTRATION] = setup.clean_registration(changes["registration"])
    if "org_name" in changes:
        values[stored_settings.ORG_NAME] = setup.clean_org_name(changes["org_name"])

    async def job(tx: Tx) -> None:
        for key, value in values.items():
            await stored_settings.put(tx, key, value)

    await svc.db.write(job)
    return await setup.get_org_settings(svc)


# -- storage, logs, version -----------------------------------------------------------------


def _folder_bytes(folder: Path) -> int:
    """The size of every file under `folder`, not following links (blocking)."""
    total = 0
    stack = [folder]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                else:
                    total += entry.stat(follow_symlinks=False).st_size
            except OSError:
                continue
    return total


def _file_bytes(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _disk_facts(data_dir: Path, db_path: Path) -> dict[str, Any]:
    disk = shutil.disk_usage(data_dir)
    return {
        "data_dir": str(data_dir.resolve()),
        "database_bytes": _file_bytes(db_path),
        "wal_bytes": _file_bytes(db_path.with_name(db_path.name + "-wal")),
        "data_bytes": _folder_bytes(data_dir),
        "disk_total_bytes": disk.total,
        "disk_free_bytes": disk.free,
    }


async def storage_use(svc: Services, admin: Admin) -> dict[str, Any]:
    settings = svc.settings
    facts = await asyncio.to_thread(_disk_facts, settings.data_dir, settings.db_path)
    facts["engine"] = svc.db.dialect
    if svc.db.dialect == "postgresql":  # the database is elsewhere: its size as it says
        row = await svc.db.fetchone("SELECT pg_database_size(current_database())")
        facts["database_bytes"] = int(row[0]) if row is not None else 0
        facts["wal_bytes"] = 0
    counts: dict[str, int] | None = None
    await svc.db.integrity_settled()  # the check at start, bounded by db.integrity_check_s
    try:
        counts = await stats.counts(svc.db)
    except sqlite3.DatabaseError as e:
        if not damage_of(e):
            raise
        # Counting read a damaged page: no figures, and the page says why.
        if not svc.db.integrity.damaged:
            svc.db.integrity = found_damage(str(e), svc.now_ms())
    # Checked at start; a backup or the count above may have found damage since.
    integrity = svc.db.integrity.to_api()
    if svc.db.dialect == "postgresql":
        integrity = {**integrity, "checked_at": None, "message": KEPT_BY_POSTGRESQL}
    return {
        **facts,
        "counts": counts,
        "integrity": integrity,
        "search_index": svc.db.search_index_repairs.to_api(),
    }


async def recent_logs(
    svc: Services, admin: Admin, buffer: LogBuffer, limit: int
) -> list[dict[str, object]]:
    return [line.to_api() for line in buffer.recent(limit)]


async def version_info(svc: Services, admin: Admin, started_at: float) -> dict[str, Any]:
    schema = await stats.schema_version(svc.db)
    if svc.db.dialect == "postgresql":
        # PostgreSQL's migrations are numbered on their own (cluster/schema/), and a node
        # runs only once they are all applied: its newest is the database's.
        row = await svc.db.fetchone("SELECT current_setting('server_version')")
        engine_version, newest = (str(row[0]) if row is not None else ""), schema
    else:
        engine_version, newest = sqlite3.sqlite_version, NEWEST_SCHEMA
    return {
        "version": __version__,
        "schema_version": schema,
        "newest_schema_version": newest,
        "python": platform.python_version(),
        "engine": svc.db.dialect,
        "engine_version": engine_version,
        "started_at": int(started_at * 1000),
        "uptime_s": max(0, int(svc.clock() - started_at)),
    }
