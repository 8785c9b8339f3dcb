"""What a committed event changes in room membership, for the hub's in-memory map.

The events are emitted by `chat/rooms.py`: `member.join` and `member.leave` name their
person in the event's own `user_id`; `room.new` lists the room's first members in
`data.room.members`, the one payload read here. `app.py` gives `change_of` to the hub,
which keeps its map in step without knowing any payload.
"""

from __future__ import annotations

import json

from ..db import Event
from ..hub import MembershipChange


def change_of(event: Event) -> MembershipChange | None:
    """Who joined or left `event.room_id` with this event; None for every other event."""
    kind, room_id = event.kind, event.room_id
    if room_id is None:
        return None
    if kind == "member.join" and event.user_id is not None:
        return MembershipChange(room_id, joined=(event.user_id,))
    if kind == "member.leave" and event.user_id is not None:
        return MembershipChange(room_id, left=(event.user_id,))
    if kind == "room.new":
        members = json.loads(event.data_json)["room"]["members"]
        return MembershipChange(room_id, joined=tuple(int(user_id) for user_id in members))
    return None
