"""What a change to the calls says to whom: the registry's `Notices` as frames and their
recipients, in the order devices should hear them (docs/api/calls.md).

Rendered once, where the change was made, from the registry as the change left it; then
delivered by every node to the devices it holds (chat/calls.py `deliver`). On one device
that is this process; on several nodes the deliveries travel in the same Redis transaction
that stores the change (cluster/calls.py), so every node hears changes in the order they
were made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .call_registry import CallRegistry, Notices


@dataclass(frozen=True)
class Delivery:
    """One frame, and who hears it: the live devices of a room's members (`room`), of some
    people (`users`), or one device (`conn`)."""

    frame: dict[str, Any]
    room: int = 0
    users: tuple[int, ...] = field(default=())
    conn: int = 0

    def as_json(self) -> dict[str, Any]:
        return {"frame": self.frame, "room": self.room, "users": self.users, "conn": self.conn}

    @staticmethod
    def from_json(raw: dict[str, Any]) -> Delivery:
        return Delivery(
            raw["frame"], int(raw["room"]), tuple(int(u) for u in raw["users"]), int(raw["conn"])
        )


def render(notices: Notices, registry: CallRegistry) -> list[Delivery]:
    out: list[Delivery] = []
    for stop in notices.ring_stops:
        stopped = {"type": "rtc.ring.stop", "room": stop.room, "call": stop.call}
        out.append(Delivery({**stopped, "reason": stop.reason}, users=tuple(sorted(stop.users))))
    for room in notices.changed:
        call = registry.get(room)
        frame: dict[str, Any] = {
            "type": "rtc.call",
            "room": room,
            "call": call.as_json() if call else None,
        }
        if call is None:
            frame["reason"] = notices.ended.get(room, "empty")
        out.append(Delivery(frame, room=room))
    for room, users in notices.rings:
        ringing = registry.get(room)
        if ringing is None:
            continue
        ring = {"type": "rtc.ring", "room": room, "call": ringing.as_json()}
        out.append(
            Delivery(
                {**ring, "from": ringing.started_by, "video": ringing.video},
                users=tuple(sorted(users)),
            )
        )
    for room, user, by in notices.rung:
        ringing = registry.get(room)
        if ringing is None or user not in ringing.ringing:
            continue
        ring = {"type": "rtc.ring", "room": room, "call": ringing.as_json()}
        out.append(Delivery({**ring, "from": by, "video": False}, users=(user,)))
    for room, conn in notices.removed:
        # No longer a member, so not among those told of the room's call: the device still
        # has to learn its seat is gone (and nothing more about the call).
        gone = {"type": "rtc.call", "room": room, "call": None, "reason": "removed"}
        out.append(Delivery(gone, conn=conn))
    return out
