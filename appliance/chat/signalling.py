"""Relaying WebRTC signalling between the devices of a room's members (never stored).

A device is one live socket (`Connection.id`), on this node or, in a cluster, on another
(ids name their node: connection.py). Both ends must be members of the room the frame
names, so a call or a transfer can only ever be set up between people who share it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import wire
from ..connection import Connection, is_here
from ..errors import NotFound

if TYPE_CHECKING:
    from ..state.services import Services


def devices(svc: Services, user_id: int, room_id: int) -> list[dict[str, int]]:
    """The live sockets of the room's members (the caller's own others included), on every
    node."""
    hub = svc.hub
    if not hub.is_member(user_id, room_id):
        raise NotFound("No such room.")
    members = hub.members(room_id)
    found = [
        (member, conn.id)
        for member in members
        for conn in hub.connections_of_user(member)
        if conn.live and not conn.closed
    ]
    if hub.other_nodes is not None:
        found.extend(hub.other_nodes.devices_of(members))
    return [{"user": user, "conn": conn} for user, conn in sorted(found)]


def relay(svc: Services, sender: Connection, room_id: int, to: int, data: dict[str, Any]) -> None:
    hub = svc.hub
    if not hub.is_member(sender.user_id, room_id):
        raise NotFound("No such room.")
    frame = wire.frame(
        {
            "type": "rtc.signal",
            "room": room_id,
            "from": sender.id,
            "user": sender.user_id,
            "data": data,
        }
    )
    target = hub.connection(to)
    if target is not None:
        if target.closed or not target.live or not hub.is_member(target.user_id, room_id):
            raise NotFound("That device is not connected.")
        target.send(frame)
        return
    # Another node's device: checked here against what that node told of it, and again
    # there (it may have closed meanwhile: then the frame is dropped, as a closed one's is).
    others = hub.other_nodes
    owner = None if others is None or is_here(to) else others.user_of(to)
    if others is None or owner is None or not hub.is_member(owner, room_id):
        raise NotFound("That device is not connected.")
    others.send_to(to, room_id, frame)
