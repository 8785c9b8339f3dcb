"""`rtc.call.*` and `rtc.calls`: calls in rooms (docs/api/calls.md); the rules live in
chat/calls.py and chat/call_registry.py."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..connection import Connection
from . import schemas as s
from .commands import Spec, only_if_asked

if TYPE_CHECKING:
    from ..state.services import Services


async def _join(svc: Services, conn: Connection, p: dict[str, Any]) -> dict[str, Any]:
    call, replaced = await svc.calls.start_or_join(
        conn, p["room"], audio=p["audio"], video=p["video"], replaces=p.get("replaces")
    )
    return {"call": call, "replaced": replaced}


# Leave, decline and update may be sent without `req` (fire and forget): no reply then.


async def _leave(svc: Services, conn: Connection, p: dict[str, Any]) -> dict[str, Any] | None:
    await svc.calls.leave(conn, p["room"])
    return only_if_asked(p)


async def _decline(svc: Services, conn: Connection, p: dict[str, Any]) -> dict[str, Any] | None:
    await svc.calls.decline(conn.user_id, p["room"])
    return only_if_asked(p)


async def _update(svc: Services, conn: Connection, p: dict[str, Any]) -> dict[str, Any] | None:
    call = await svc.calls.update(
        conn, p["room"], audio=p["audio"], video=p["video"], screen=p["screen"]
    )
    return {"call": call} if p.get("_req") is not None else None


async def _ring(svc: Services, conn: Connection, p: dict[str, Any]) -> dict[str, Any]:
    return {"call": await svc.calls.ring(conn, p["room"], p["user"])}


async def _calls(svc: Services, conn: Connection, p: dict[str, Any]) -> dict[str, Any]:
    return {"calls": await svc.calls.calls_of(conn.user_id)}


def commands(svc: Services) -> dict[str, Spec]:
    room = {"room": s.ID}
    media = {"audio": s.BOOL, "video": s.BOOL}
    return {
        "rtc.call.join": Spec({**room, **media, "replaces": s.optional(s.ID)}, _join),
        "rtc.call.leave": Spec(room, _leave),
        "rtc.call.decline": Spec(room, _decline),
        "rtc.call.update": Spec({**room, **media, "screen": s.BOOL}, _update),
        "rtc.call.ring": Spec({**room, "user": s.ID}, _ring),
        "rtc.calls": Spec({}, _calls),
    }
