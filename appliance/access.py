"""Who may see what: the one place visibility is decided (docs/architecture.md, "Visibility").

Rooms you are not a member of answer 404 everywhere. Events follow the same rule for
replay (`may_see_event`) and live fan-out (`event_recipients`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from .db import Event
from .engine import Row
from .errors import NotFound
from .storage import Reader, messages, rooms, uploads

ROOM_NOT_FOUND = "No such room."
MESSAGE_NOT_FOUND = "No such message."
UPLOAD_NOT_FOUND = "No such file."


async def access_room(db: Reader, user_id: int, room_id: int) -> Row:
    """The room, if `user_id` is a member; NotFound otherwise (ids leak nothing)."""
    if await rooms.role(db, room_id, user_id) is None:
        raise NotFound(ROOM_NOT_FOUND)
    row = await rooms.get(db, room_id)
    if row is None:
        raise NotFound(ROOM_NOT_FOUND)
    return row


async def access_message(db: Reader, user_id: int, message_id: int) -> Row:
    """The message, if `user_id` is a member of its room; NotFound otherwise."""
    row = await messages.get(db, message_id)
    if row is None or await rooms.role(db, int(row["room_id"]), user_id) is None:
        raise NotFound(MESSAGE_NOT_FOUND)
    return row


async def access_upload(db: Reader, user_id: int, upload_id: int) -> Row:
    """An uploaded file: its uploader's, and visible to the members of the room of the
    (not deleted) message that carries it. Anyone else gets the same 404 as a missing file."""
    row = await uploads.get(db, upload_id)
    if row is None:
        raise NotFound(UPLOAD_NOT_FOUND)
    if row["owner_id"] == user_id:
        return row
    if row["message_id"] is not None:
        message = await messages.get(db, int(row["message_id"]))
        if (
            message is not None
            and not message["deleted"]
            and await rooms.role(db, int(message["room_id"]), user_id) is not None
        ):
            return row
    raise NotFound(UPLOAD_NOT_FOUND)


def may_see_event(viewer: int, event: Event, viewer_rooms: Collection[int]) -> bool:
    """Room events go to the room's members, plus the user the event is about (so someone
    removed from a room learns it); events without a room go to everyone, or to their user."""
    if event.room_id is None:
        return event.user_id is None or event.user_id == viewer
    return event.room_id in viewer_rooms or event.user_id == viewer


def event_recipients(
    event: Event, members_of: Callable[[int], Collection[int]]
) -> Collection[int] | None:
    """The same rule as `may_see_event`, from the room's side; None means everyone."""
    if event.room_id is None:
        return None if event.user_id is None else (event.user_id,)
    members = members_of(event.room_id)
    if event.user_id is None or event.user_id in members:
        return members
    return (*members, event.user_id)
