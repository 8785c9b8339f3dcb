"""Accounts: users, passwords, login sessions and the throttles around password checks
(new accounts and invites: registration.py; what an admin does to accounts: admin.py)."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from ..db import Tx
from ..errors import BadRequest, Forbidden, NotFound, RateLimited, Unauthorized
from ..passwords import MAX_PASSWORD_BYTES
from ..ratelimit import Busy, address_key
from ..storage import sessions, users
from ..visible_text import check_visible
from .timezones import clean_timezone

if TYPE_CHECKING:
    from ..state.services import Services

T = TypeVar("T")

USERNAME = re.compile(r"[a-z0-9._-]{2,32}")
MIN_PASSWORD = 8
DAY_MS = 86_400_000
# Sliding expiry is written at most this often, so requests rarely cost a write.
TOUCH_EVERY_MS = 3_600_000


@dataclass(frozen=True, slots=True)
class Session:
    id: int
    user_id: int


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def normalise_username(raw: str) -> str:
    name = raw.strip().lower()
    if not USERNAME.fullmatch(name):
        raise BadRequest("A username is 2–32 characters of a-z, 0-9, '.', '_' and '-'.")
    return name


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise BadRequest(f"A password needs at least {MIN_PASSWORD} characters.")
    if len(password.encode("utf-8", "surrogatepass")) > MAX_PASSWORD_BYTES:
        raise BadRequest(f"A password may have at most {MAX_PASSWORD_BYTES} bytes.")


def clean_display_name(raw: str | None, fallback: str) -> str:
    name = " ".join((raw or "").split())  # tabs and newlines become single spaces
    if len(name) > 64:
        raise BadRequest("A display name may have at most 64 characters.")
    check_visible(name, "A display name")
    return name or fallback


def clean_status_text(raw: object) -> str:
    text = " ".join(str(raw).split())
    if len(text) > 140:
        raise BadRequest("A status may have at most 140 characters.")
    check_visible(text, "A status")
    return text


async def hash_gated(
    svc: Services, keys: list[tuple[str, str]], work: Callable[[], Awaitable[T]]
) -> T:
    """Run password work holding a place per address (and user): a few at a time each,
    so one flood cannot fill the shared hashing queue (svc.passwords)."""
    try:
        if len(keys) == 1:
            async with svc.hashing.hold(keys[0]):
                return await work()
        async with svc.hashing.hold(keys[0]), svc.hashing.hold(keys[1]):
            return await work()
    except Busy:
        raise RateLimited(
            "Too many password checks at once from here; try again in a moment.",
            retry_after_s=1.0,
        ) from None


async def login(
    svc: Services, username: str, password: str, address: str, user_agent: str
) -> tuple[str, dict[str, Any]]:
    """Check the password (throttled per address and per username); open a session.

    The attempt counts as a failure before the password is checked, so parallel attempts
    cannot all pass the limit; a success (or a check that never ran) gives it back."""
    key = username.strip().lower()[:64]
    ip = address_key(address)
    guess = await svc.guesses.count(ip, key)
    try:
        row = await users.by_username(svc.db, key) if USERNAME.fullmatch(key) else None
        stored = row["password_hash"] if row is not None else svc.dummy_password_hash
        good = len(password) <= MAX_PASSWORD_BYTES and await hash_gated(
            svc, [("ip", ip), ("user", key)], lambda: svc.passwords.verify(password, stored)
        )
    except RateLimited:  # too busy to check: not a guess
        await svc.guesses.forgive(guess)
        raise
    if row is None or not good or row["deactivated"]:
        raise Unauthorized("Wrong username or password.")
    await svc.guesses.succeeded(guess)
    token = await open_session(svc, int(row["id"]), address, user_agent)
    return token, users.to_api(row, online=svc.hub.is_online(int(row["id"])))


async def open_session(svc: Services, user_id: int, address: str, user_agent: str) -> str:
    token = secrets.token_urlsafe(32)
    now = svc.now_ms()
    expires = now + svc.settings.auth.session_days * DAY_MS

    async def job(tx: Tx) -> None:
        await sessions.insert(tx, user_id, token_hash(token), now, expires, user_agent, address)

    await svc.db.write(job)
    return token


async def authenticate(svc: Services, token: str | None) -> Session | None:
    """The session behind a cookie, sliding its expiry forward; None when not valid."""
    if not token or len(token) > 128:
        return None
    row = await sessions.lookup(svc.db, token_hash(token))
    now = svc.now_ms()
    if row is not None and row["expires_at"] <= now and await svc.clock_steps.settle():
        # It only looked expired: the clock had just stepped forward (clock/steps.py).
        row = await sessions.lookup(svc.db, token_hash(token))
        now = svc.now_ms()
    if row is None or row["deactivated"] or row["expires_at"] <= now:
        return None
    session = Session(int(row["session_id"]), int(row["user_id"]))
    if now - row["last_used_at"] >= TOUCH_EVERY_MS:
        expires = now + svc.settings.auth.session_days * DAY_MS

        async def job(tx: Tx) -> None:
            await sessions.touch(tx, session.id, now, expires)

        await svc.db.write(job)
    return session


async def logout(svc: Services, session: Session) -> None:
    async def job(tx: Tx) -> None:
        await sessions.delete(tx, session.id)

    await svc.db.write(job)
    svc.hub.close_user(session.user_id, "logged out", session_id=session.id)


async def list_sessions(svc: Services, session: Session) -> list[dict[str, Any]]:
    rows = await sessions.for_user(svc.db, session.user_id)
    return [
        {
            "id": r["id"],
            "created_at": r["created_at"],
            "last_used_at": r["last_used_at"],
            "expires_at": r["expires_at"],
            "user_agent": r["user_agent"],
            "address": r["address"],
            "current": r["id"] == session.id,
        }
        for r in rows
    ]


async def revoke_session(svc: Services, session: Session, session_id: int) -> None:
    if not any(r["id"] == session_id for r in await sessions.for_user(svc.db, session.user_id)):
        raise NotFound("No such session.")

    async def job(tx: Tx) -> None:
        await sessions.delete(tx, session_id)

    await svc.db.write(job)
    svc.hub.close_user(session.user_id, "session revoked", session_id=session_id)


async def get_user(svc: Services, user_id: int) -> dict[str, Any]:
    row = await users.get(svc.db, user_id)
    if row is None:
        raise NotFound("No such user.")
    return users.to_api(row, online=svc.hub.is_online(user_id))


async def list_users(svc: Services) -> list[dict[str, Any]]:
    """The directory: people only (what every picker offers)."""
    return [
        users.to_api(r, online=svc.hub.is_online(int(r["id"]))) for r in await users.people(svc.db)
    ]


async def list_system_users(svc: Services) -> list[dict[str, Any]]:
    """The system accounts (Echo), apart, so a client can name their rooms without ever
    offering them as people."""
    return [
        users.to_api(r, online=svc.hub.is_online(int(r["id"])))
        for r in await users.system_users(svc.db)
    ]


async def update_profile(
    svc: Services, session: Session, changes: dict[str, Any], address: str | None = None
) -> dict[str, Any]:
    """PATCH /api/me: display name, status text, time zone, password (with the old one)."""
    fields: dict[str, Any] = {}
    row = await users.get(svc.db, session.user_id)
    assert row is not None
    if "display_name" in changes:
        fields["display_name"] = clean_display_name(changes["display_name"], row["username"])
    if "status_text" in changes:
        fields["status_text"] = clean_status_text(changes["status_text"])
    if "timezone" in changes:
        fields["timezone"] = await clean_timezone(changes["timezone"])
    if "avatar" in changes and changes["avatar"] is not None:
        raise BadRequest("Set a profile picture with PUT /api/me/avatar (docs/api/uploads.md).")
    if "password" in changes:
        check_password(changes["password"])
        old = changes.get("old_password")
        if not isinstance(old, str) or len(old) > MAX_PASSWORD_BYTES:
            raise Forbidden("The current password is wrong.")
        fields["password_hash"] = await _change_password(
            svc, row["username"], row["password_hash"], old, changes["password"], address
        )
    return await save_user(svc, session.user_id, fields, keep_session=session.id)


async def _change_password(
    svc: Services, username: str, stored: str, old: str, new: str, address: str | None
) -> str:
    """Check the current password (a wrong one counts as a failed login for this user and
    address: a stolen session must not become a fast password oracle), then hash the new."""
    ip = None if address is None else address_key(address)
    guess = await svc.guesses.count(ip, username)
    keys = [("user", username)] if ip is None else [("ip", ip), ("user", username)]
    try:
        good = await hash_gated(svc, keys, lambda: svc.passwords.verify(old, stored))
    except RateLimited:
        await svc.guesses.forgive(guess)
        raise
    if not good:
        raise Forbidden("The current password is wrong.")
    await svc.guesses.forgive(guess)
    n = svc.settings.auth.scrypt_n
    return await hash_gated(svc, keys, lambda: svc.passwords.hash(new, n))


async def save_user(
    svc: Services, user_id: int, fields: dict[str, Any], *, keep_session: int | None
) -> dict[str, Any]:
    """Change an account's row (checked by the caller) and tell everyone; a new password
    or a deactivation ends its other sessions."""
    now = svc.now_ms()

    async def job(tx: Tx) -> dict[str, Any]:
        row = await users.update(tx, user_id, fields)
        if "password_hash" in fields or fields.get("deactivated"):
            # A new password or a deactivation ends every other session at once.
            await sessions.delete_for_user(tx, user_id, keep=keep_session)
        user = users.to_api(row, online=svc.hub.is_online(user_id))
        await tx.emit("user.update", None, {"user": user}, now)
        return user

    user = await svc.db.write(job)
    if "password_hash" in fields:
        for conn in list(svc.hub.by_user.get(user_id, ())):
            if conn.session_id != keep_session:
                conn.close(4001, "password changed")
    return user


async def reset_password(svc: Services, username: str, password: str) -> None:
    """Set a password from the device's command line; every session of that user ends."""
    row = await users.by_username(svc.db, normalise_username(username))
    if row is None or row["system"]:
        raise NotFound("No such user.")
    check_password(password)
    password_hash = await svc.passwords.hash(password, svc.settings.auth.scrypt_n)
    await save_user(svc, int(row["id"]), {"password_hash": password_hash}, keep_session=None)


async def purge_expired_sessions(svc: Services) -> None:
    await svc.clock_steps.settle()  # never purge by a clock that stepped uncorrected
    now = svc.now_ms()

    async def job(tx: Tx) -> None:
        await sessions.delete_expired(tx, now)

    await svc.db.write(job)
