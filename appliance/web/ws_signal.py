"""`rtc.signal` and `rtc.devices`: the WebRTC signalling relay (calls, transfers, P2P chat)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..chat import signalling
from ..connection import Connection
from . import schemas as s
from .commands import Spec, only_if_asked

if TYPE_CHECKING:
    from ..state.services import Services


async def _signal(svc: Services, conn: Connection, p: dict[str, Any]) -> dict[str, Any] | None:
    signalling.relay(svc, conn, p["room"], p["to"], p["data"])
    return only_if_asked(p)


async def _devices(svc: Services, conn: Connection, p: dict[str, Any]) -> dict[str, Any]:
    return {"devices": signalling.devices(svc, conn.user_id, p["room"])}


def commands(svc: Services) -> dict[str, Spec]:
    return {
        "rtc.signal": Spec({"room": s.ID, "to": s.ID, "data": s.Field(s.json_object)}, _signal),
        "rtc.devices": Spec({"room": s.ID}, _devices),
    }
