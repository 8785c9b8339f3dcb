"""Relaying WebRTC signalling between the devices of a room's members (never stored).

A device is one live socket (`Connection.id`). Both ends must be members of the room the
frame names, so a call or a transfer can only ever be set up between people who share it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import wire
from ..connection import Connection
from ..errors import NotFound

if TYPE_CHECKING:
    from ..state.services import Services


def devices(svc: Services, user_id: int, room_id: int) -> list[dict[str, int]]:
    """The live sockets of the room's members (the caller's own others included)."""
    if not svc.hub.is_member(user_id, room_id):
        raise NotFound("No such room.")
    return [
        {"user": member, "conn": conn.id}
        for member in sorted(svc.hub.members(room_id))
        for conn in sorted(svc.hub.connections_of_user(member), key=lambda c: c.id)
        if conn.live and not conn.closed
    ]


def relay(svc: Services, sender: Connection, room_id: int, to: int, data: dict[str, Any]) -> None:
    if not svc.hub.is_member(sender.user_id, room_id):
        raise NotFound("No such room.")
    target = svc.hub.connection(to)
    if (
        target is None
        or target.closed
        or not target.live
        or not svc.hub.is_member(target.user_id, room_id)
    ):
        raise NotFound("That device is not connected.")
    target.send(
        wire.frame(
            {
                "type": "rtc.signal",
                "room": room_id,
                "from": sender.id,
                "user": sender.user_id,
                "data": data,
            }
        )
    )
