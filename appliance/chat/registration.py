"""New accounts: made by an admin or `pychat user add`, by registration (the office's
policy: closed, invite or open), and the invites that let people register."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from ..db import Tx
from ..errors import Conflict, Forbidden
from ..ratelimit import address_key
from ..storage import invites, settings, users
from . import rooms
from .accounts import (
    check_password,
    clean_display_name,
    hash_gated,
    normalise_username,
    open_session,
    token_hash,
)

if TYPE_CHECKING:
    from ..state.services import Services


async def create_user(
    svc: Services,
    username: str,
    password: str,
    *,
    display_name: str | None = None,
    admin: bool = False,
    address: str | None = None,
) -> dict[str, Any]:
    """An account made by an admin (admin.create_user, which checked the caller) or by
    `pychat user add`; `address` is the admin's."""
    name = normalise_username(username)
    check_password(password)
    shown = clean_display_name(display_name, name)
    if await users.by_username(svc.db, name) is not None:
        raise Conflict("That username is taken.")
    n = svc.settings.auth.scrypt_n
    keys = [("ip", address_key(address or "local"))]
    password_hash = await hash_gated(svc, keys, lambda: svc.passwords.hash(password, n))
    now = svc.now_ms()

    async def job(tx: Tx) -> dict[str, Any]:
        return await _insert_user(tx, name, shown, password_hash, admin, now)

    return await svc.db.write(job)


async def register(
    svc: Services,
    username: str,
    password: str,
    display_name: str | None,
    invite: str | None,
    address: str,
    user_agent: str,
) -> tuple[str, dict[str, Any]]:
    """Every cheap check first (policy, fields, the invite without using it, the name);
    an invite-code guess counts against the address like a failed login; only then the
    password is hashed, in the shared bounded pool."""
    policy = await settings.get(svc.db, settings.REGISTRATION, "invite")
    if policy == "closed":
        raise Forbidden("Registration is closed; ask an admin for an account.")
    if policy == "invite" and not invite:
        raise Forbidden("An invite code is needed to register.")
    name = normalise_username(username)
    check_password(password)
    shown = clean_display_name(display_name, name)
    ip = address_key(address)
    if policy == "invite":
        guess = await svc.guesses.count(ip, None)
        await svc.clock_steps.settle()  # an invite's deadline is judged against the clock
        if not await invites.usable(svc.db, token_hash(invite or ""), svc.now_ms()):
            raise Forbidden("That invite code is not valid (unknown, used up or expired).")
        await svc.guesses.forgive(guess)
    if await users.by_username(svc.db, name) is not None:
        raise Conflict("That username is taken.")
    n = svc.settings.auth.scrypt_n
    password_hash = await hash_gated(svc, [("ip", ip)], lambda: svc.passwords.hash(password, n))
    await svc.clock_steps.settle()  # an invite's deadline is judged against the clock
    now = svc.now_ms()

    async def job(tx: Tx) -> dict[str, Any]:
        if policy == "invite" and not await invites.consume(tx, token_hash(invite or ""), now):
            raise Forbidden("That invite code is not valid (unknown, used up or expired).")
        return await _insert_user(tx, name, shown, password_hash, False, now)

    user = await svc.db.write(job)
    token = await open_session(svc, int(user["id"]), address, user_agent)
    return token, user


async def create_invite(svc: Services, actor: int, uses: int, expires_in_s: int | None) -> str:
    """An invite code from `actor`: the first admin at setup, or an admin through
    admin.create_invite (which checked the caller)."""
    code = secrets.token_urlsafe(12)
    now = svc.now_ms()
    expires = None if expires_in_s is None else now + expires_in_s * 1000

    async def job(tx: Tx) -> None:
        await invites.insert(tx, token_hash(code), actor, now, expires, uses)

    await svc.db.write(job)
    return code


async def _insert_user(
    tx: Tx, name: str, shown: str, password_hash: str, admin: bool, now: int
) -> dict[str, Any]:
    """The account's row and its event; every account is in the general channel."""
    row = await users.insert(tx, name, shown, password_hash, admin, now)
    user = users.to_api(row, online=False)
    await tx.emit("user.new", None, {"user": user}, now)
    await rooms.join_general(tx, int(row["id"]), now)
    return user
