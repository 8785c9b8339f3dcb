""" "Mark as read" from a notification: read up to one message, wherever it is.

A notification names a message, not a marker: a timeline message moves the room's read
marker, a thread reply its thread's marker (the same actions as `read.mark` and
`thread.read`, so the same events reach the user's other devices).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..access import access_message
from . import messages

if TYPE_CHECKING:
    from ..state.services import Services


@dataclass(frozen=True, slots=True)
class ReadUpTo:
    room: int
    thread: int | None  # the thread's root for a reply, else None
    marker: int  # the marker moved, as it now is (markers only move forward)


async def read_up_to(svc: Services, user_id: int, message_id: int) -> ReadUpTo:
    row = await access_message(svc.db, user_id, message_id)
    room_id = int(row["room_id"])
    if row["thread_id"] is None:
        marker = await messages.mark_read(svc, user_id, room_id, message_id)
        return ReadUpTo(room_id, None, marker)
    marker = await messages.mark_thread_read(svc, user_id, message_id)
    return ReadUpTo(room_id, int(row["thread_id"]), marker)
