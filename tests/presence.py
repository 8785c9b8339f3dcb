"""Reading presence as a client sees it: frames, and the people list's `online`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.client import Client

Frame = dict[str, Any]


def presence_of(frame: Frame, user_id: int) -> Frame | None:
    """The presence entry for `user_id` in a presence or presence.batch frame."""
    if frame.get("type") == "presence":
        items = [frame]
    elif frame.get("type") == "presence.batch":
        items = list(frame.get("users", []))
    else:
        return None
    return next((p for p in items if p.get("user") == user_id), None)


def went(user_id: int, online: bool) -> Callable[[Frame], bool]:
    def check(frame: Frame) -> bool:
        entry = presence_of(frame, user_id)
        return entry is not None and entry.get("online") is online

    return check


async def listed_online(client: Client, user_id: int) -> bool:
    users = (await client.get("/api/users"))["users"]
    return bool(next(u for u in users if u["id"] == user_id)["online"])
