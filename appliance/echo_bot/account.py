"""The Echo account (made on first use) and a user's direct room with it."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from ..chat import rooms
from ..db import Tx
from ..errors import NotFound
from ..storage import settings as stored
from ..storage import users

if TYPE_CHECKING:
    from ..state.services import Services

USERNAME = "echo"
DISPLAY_NAME = "Echo (test call)"


async def echo_user_id(svc: Services) -> int | None:
    value = await stored.get(svc.db, stored.ECHO_USER)
    return int(value) if value is not None else None


async def ensure_echo_user(svc: Services) -> int:
    """The Echo account's id, creating it the first time (nobody can log in as it: its
    password is random and never kept)."""
    existing = await echo_user_id(svc)
    if existing is not None:
        return existing
    password_hash = await svc.passwords.hash(secrets.token_urlsafe(32), svc.settings.auth.scrypt_n)
    now = svc.now_ms()

    async def job(tx: Tx) -> int:
        again = await stored.get(tx, stored.ECHO_USER)
        if again is not None:
            return int(again)
        name = USERNAME
        for n in range(2, 100):  # a person may already be called "echo"
            if await users.by_username(tx, name) is None:
                break
            name = f"{USERNAME}-{n}"
        row = await users.insert(tx, name, DISPLAY_NAME, password_hash, False, now, system=True)
        await tx.emit("user.new", None, {"user": users.to_api(row, online=False)}, now)
        await stored.put(tx, stored.ECHO_USER, str(row["id"]))
        return int(row["id"])

    return await svc.db.write(job)


async def test_call_room(svc: Services, user_id: int) -> dict[str, Any]:
    """The user's direct room with Echo (the same one every time), shown again in the
    user's sidebar if she had closed it."""
    echo = await ensure_echo_user(svc)
    if echo == user_id:
        raise NotFound("No such user.")
    room, _ = await rooms.create_room(svc, user_id, "direct", None, None, [echo], with_system=True)
    if room.get("hidden_through") is not None:
        await rooms.set_hidden(svc, user_id, int(room["id"]), False)
        room = {**room, "hidden_through": None}
    return room
