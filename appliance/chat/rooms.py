"""Room actions: create, rename, topic, join, leave, invite, remove; the room list.

Caps are checked whenever someone is added to a room, not only when a room is made
(issue 13): `limits.rooms_per_user` on every membership, `limits.members_per_room` on every
room but `general`, both inside the write transaction so parallel requests cannot pass
them together. Others may fill only part of someone's rooms (`_pushed_cap`), and rooms are
created at a limited rate per account.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..access import ROOM_NOT_FOUND, access_room
from ..db import Tx
from ..engine import Row
from ..errors import BadRequest, Conflict, Forbidden, NotFound, RateLimited
from ..storage import Reader, events, rooms, users
from ..storage import settings as stored_settings
from ..storage.uploads import avatar_url
from .accounts import Session

if TYPE_CHECKING:
    from ..state.services import Services

KINDS = ("channel", "private", "direct")
GENERAL = "general"
DIRECT_IS_FIXED = "The people in a direct conversation are fixed."


@dataclass(frozen=True, slots=True)
class RoomManager:
    """A member of a room (not a direct conversation) who is one of its owners or an admin,
    checked by `authorize_manager`: an action taking one needs no check of its own, so a
    handler can authorize before it reads a body."""

    user_id: int
    room_id: int


def clean_name(raw: str | None, *, required: bool) -> str:
    name = " ".join((raw or "").split())
    if required and not name:
        raise BadRequest("A room needs a name.")
    if len(name) > 80:
        raise BadRequest("A room name may have at most 80 characters.")
    return name


def clean_topic(raw: str | None) -> str:
    topic = (raw or "").strip()
    if len(topic) > 500:
        raise BadRequest("A topic may have at most 500 characters.")
    return topic


async def _room_api(db: Any, room_id: int, viewer: int | None = None) -> dict[str, Any]:
    row = await rooms.get(db, room_id)
    assert row is not None
    members = (await rooms.members_of_rooms(db, [room_id]))[room_id]
    state = None
    if viewer is not None:
        states = await rooms.states_for(db, viewer, room_id)
        state = states[0] if states else None
    return rooms.to_api(row, members, state)


async def list_rooms(svc: Services, user_id: int) -> tuple[list[dict[str, Any]], int]:
    """Her rooms, and the event-log position their counters are exact at (docs/api.md)."""
    states = await rooms.states_for(svc.db, user_id)
    members = await rooms.members_of_rooms(svc.db, [int(s["id"]) for s in states])
    seq = int(states[0]["seq"]) if states else await events.head(svc.db)
    return [rooms.to_api(s, members[int(s["id"])], s) for s in states], seq


async def get_room(svc: Services, user_id: int, room_id: int) -> tuple[dict[str, Any], int]:
    """The room, and the event-log position its counters are exact at."""
    await access_room(svc.db, user_id, room_id)
    states = await rooms.states_for(svc.db, user_id, room_id)  # the room's row as well
    if not states:  # left between the access check and the read
        raise NotFound(ROOM_NOT_FOUND)
    members = (await rooms.members_of_rooms(svc.db, [room_id]))[room_id]
    return rooms.to_api(states[0], members, states[0]), int(states[0]["seq"])


async def list_channels(svc: Services, user_id: int) -> list[dict[str, Any]]:
    mine = svc.hub.rooms_of(user_id)
    return [
        {
            "id": r["id"],
            "kind": r["kind"],
            "name": r["name"],
            "topic": r["topic"],
            "member_count": r["member_count"],
            "joined": int(r["id"]) in mine,
            "avatar_url": avatar_url(r["avatar_hash"]),
        }
        for r in await rooms.channels(svc.db)
    ]


async def _active_users(
    svc: Services, user_ids: list[int], *, with_system: bool = False
) -> list[int]:
    """The people, active, sorted; a system account (Echo) is nobody to a person's request."""
    wanted = sorted(set(user_ids))
    found = {
        int(r["id"])
        for r in await users.many(svc.db, wanted)
        if not r["deactivated"] and (with_system or not r["system"])
    }
    missing = [u for u in wanted if u not in found]
    if missing:
        raise BadRequest(f"No such user: {missing[0]}.")
    return wanted


async def _take_create_token(svc: Services, user_id: int) -> None:
    wait = await svc.room_creates.take(str(user_id))
    if wait > 0:
        raise RateLimited(
            "You are creating rooms too fast (limits.room_creates_per_minute); wait a moment.",
            retry_after_s=wait,
        )


def _pushed_cap(cap: int) -> int:
    """Others may add someone to rooms only while she is in fewer than this: the rest of
    limits.rooms_per_user stays hers, so colleagues cannot stop her making or joining rooms."""
    return cap - max(1, cap // 10)


async def _check_rooms_per_user(tx: Reader, svc: Services, actor: int, adding: list[int]) -> None:
    """Conflict naming the limit when one of `adding` is in too many rooms to be added to
    another: the actor herself up to limits.rooms_per_user, others up to _pushed_cap."""
    cap = svc.settings.limits.rooms_per_user
    counts = await rooms.room_counts(tx, adding)
    full = [u for u in adding if counts.get(u, 0) >= (cap if u == actor else _pushed_cap(cap))]
    if not full:
        return
    echo = await stored_settings.get(tx, stored_settings.ECHO_USER)
    full = [u for u in full if str(u) != echo]  # Echo is in a direct room with everyone
    if not full:
        return
    if actor in full:
        raise Conflict(
            f"You are already in {cap} rooms, the most one account may be in"
            " (limits.rooms_per_user); leave some first."
        )
    user = await users.get(tx, full[0])
    who = str(user["username"]) if user is not None else f"User {full[0]}"
    raise Conflict(
        f"{who} is in too many rooms for others to add them to more: people may add"
        f" someone to {_pushed_cap(cap)} of the {cap} rooms an account may be in"
        " (limits.rooms_per_user)."
    )


async def _check_capacity(tx: Reader, svc: Services, room: Row, adding: int) -> None:
    """Conflict when `adding` more members would take the room past
    limits.members_per_room; `general` has no cap, as every account joins it."""
    if room["kind"] == "channel" and str(room["name"]).lower() == GENERAL:
        return
    limit = svc.settings.limits.members_per_room
    if await rooms.member_count(tx, int(room["id"])) + adding > limit:
        raise Conflict(f"A room may have at most {limit} members (limits.members_per_room).")


async def create_room(
    svc: Services,
    creator: int,
    kind: str,
    name: str | None,
    topic: str | None,
    member_ids: list[int],
    *,
    with_system: bool = False,
) -> tuple[dict[str, Any], bool]:
    """The new room, and whether it was created (a direct room for a known set is reused).
    Only the appliance itself (`with_system`) may put a system account in a room."""
    if kind not in KINDS:
        raise BadRequest("kind must be channel, private or direct.")
    limit = svc.settings.limits
    if len(set(member_ids) | {creator}) > limit.members_per_room:
        raise BadRequest(
            f"A room may have at most {limit.members_per_room} members (limits.members_per_room)."
        )
    direct_key = None
    if kind == "direct":
        members = await _active_users(svc, [creator, *member_ids], with_system=with_system)
        if len(members) < 2:
            raise BadRequest("A direct conversation needs at least one other person.")
        direct_key = ",".join(map(str, members))
        existing = await rooms.by_direct_key(svc.db, direct_key)
        if existing is not None:
            return await _room_api(svc.db, int(existing["id"]), creator), False
        room_name, room_topic = "", ""
        await _take_create_token(svc, creator)
    else:
        room_name = clean_name(name, required=True)
        room_topic = clean_topic(topic)
        await _take_create_token(svc, creator)
        members = await _active_users(svc, [creator, *member_ids])
    now = svc.now_ms()

    async def job(tx: Tx) -> tuple[dict[str, Any], bool]:
        if direct_key is not None:
            # Another request may have made the same conversation since we looked.
            again = await rooms.by_direct_key(tx, direct_key)
            if again is not None:
                return await _room_api(tx, int(again["id"]), creator), False
        await _check_rooms_per_user(tx, svc, creator, members)
        room_id = await rooms.insert(tx, kind, room_name, room_topic, direct_key, creator, now)
        # A new room has no messages: its members, creator included, start with nothing
        # unread without a marker.
        for uid in members:
            role = "owner" if uid == creator and kind != "direct" else "member"
            await rooms.add_member(tx, room_id, uid, role, now)
        room = await _room_api(tx, room_id)
        await tx.emit("room.new", room_id, {"room": room}, now)
        return room, True

    return await svc.db.write(job)


async def create_general(tx: Tx, admin_id: int, now: int) -> None:
    """The channel every new account starts in (made by first-boot setup)."""
    room_id = await rooms.insert(tx, "channel", GENERAL, "Company-wide chat", None, admin_id, now)
    await rooms.add_member(tx, room_id, admin_id, "owner", now)
    await tx.emit("room.new", room_id, {"room": await _room_api(tx, room_id)}, now)


async def join_general(tx: Tx, user_id: int, now: int) -> None:
    """A new account joins `general` (no caps: it is in no room yet, and general has none)."""
    general = await rooms.channel_named(tx, GENERAL)
    if general is not None:
        await _add(tx, general, user_id, now)


async def _add(tx: Tx, room_id: int, user_id: int, now: int) -> bool:
    """Every way into an existing room (joining a channel, being added, a new account's
    `general`) comes here. She starts having read up to the newest message, as in Slack or
    Discord, threads included: the history is there to scroll, not unread, and mentions
    in it are not hers; the `read` event after her join tells her other devices (and the
    room) where her marker is."""
    if not await rooms.add_member(tx, room_id, user_id, "member", now):
        return False
    room = await _room_api(tx, room_id)
    await tx.emit("member.join", room_id, {"user": user_id, "room": room}, now, user_id=user_id)
    marker = await rooms.start_read_at_newest(tx, room_id, user_id)
    await rooms.start_threads_read(tx, room_id, user_id)
    if marker is not None:
        await tx.emit("read", room_id, {"user": user_id, "message": marker}, now)
    return True


async def _room_for_change(
    svc: Services, actor: int, room_id: int, direct: str = DIRECT_IS_FIXED
) -> Row:
    """The room: 404 unless `actor` is a member, 409 (saying `direct`) for a direct one."""
    row = await access_room(svc.db, actor, room_id)
    if row["kind"] == "direct":
        raise Conflict(direct)
    return row


async def _require_manager(svc: Services, user_id: int, room_id: int, to: str) -> None:
    """403 ("Only the room's owners and admins may <to>.") unless `user_id`, a member, is
    one of the room's owners or an admin."""
    if await rooms.role(svc.db, room_id, user_id) == "owner":
        return
    user = await users.get(svc.db, user_id)
    if user is None or not user["admin"]:
        raise Forbidden(f"Only the room's owners and admins may {to}.")


async def authorize_manager(
    svc: Services, actor: int, room_id: int, *, to: str, direct: str = DIRECT_IS_FIXED
) -> RoomManager:
    """`actor` as a manager of the room, or: 404 unless a member, 409 (saying `direct`) for
    a direct conversation, 403 ("Only the room's owners and admins may <to>.") otherwise."""
    await _room_for_change(svc, actor, room_id, direct)
    await _require_manager(svc, actor, room_id, to)
    return RoomManager(actor, room_id)


async def join(svc: Services, user_id: int, room_id: int) -> dict[str, Any]:
    row = await rooms.get(svc.db, room_id)
    if row is None or (row["kind"] != "channel" and not svc.hub.is_member(user_id, room_id)):
        raise NotFound("No such room.")
    now = svc.now_ms()

    async def job(tx: Tx) -> None:
        # Whether she is in, from the database: this node's hub may not have heard yet of
        # her leaving (or joining) through another node, or another tab. Only a channel is
        # joined: someone removed from a private room a moment ago is not let back in.
        if await rooms.role(tx, room_id, user_id) is not None:
            return
        if row["kind"] != "channel":
            raise NotFound("No such room.")
        await _check_rooms_per_user(tx, svc, user_id, [user_id])
        await _check_capacity(tx, svc, row, 1)
        await _add(tx, room_id, user_id, now)

    await svc.db.write(job)
    return await _room_api(svc.db, room_id, user_id)


async def add_members(
    svc: Services, actor: int, room_id: int, user_ids: list[int]
) -> dict[str, Any]:
    row = await _room_for_change(svc, actor, room_id)
    people = await _active_users(svc, user_ids)
    now = svc.now_ms()

    async def job(tx: Tx) -> None:
        # Who is in already, from the database: a change made through another node a
        # moment ago may not have reached this node's hub yet.
        present = set(await rooms.member_ids(tx, room_id))
        wanted = [u for u in people if u not in present]
        if not wanted:
            return
        await _check_rooms_per_user(tx, svc, actor, wanted)
        await _check_capacity(tx, svc, row, len(wanted))
        for uid in wanted:
            await _add(tx, room_id, uid, now)

    await svc.db.write(job)
    return await _room_api(svc.db, room_id, actor)


async def set_hidden(svc: Services, user_id: int, room_id: int, hide: bool) -> int | None:
    """Close a direct room in the member's sidebar on every device (hide), or bring it
    back; a newer message in it brings it back by itself (`hidden_through`). Returns the
    new `hidden_through`; the member's other sockets learn it by a `room.hidden` event."""
    row = await access_room(svc.db, user_id, room_id)
    if row["kind"] != "direct":
        raise Conflict("Only a direct conversation can be closed; leave a room instead.")
    if not hide and await rooms.hidden_through(svc.db, room_id, user_id) is None:
        return None
    now = svc.now_ms()

    async def job(tx: Tx) -> int | None:
        through = await rooms.set_hidden(tx, room_id, user_id, hide)
        data = {"room": room_id, "hidden_through": through}
        await tx.emit("room.hidden", None, data, now, user_id=user_id)
        return through

    return await svc.db.write(job)


async def remove_member(svc: Services, actor: int, room_id: int, user_id: int) -> None:
    """Anyone may leave a room; only its managers may remove someone else."""
    await _room_for_change(svc, actor, room_id)
    if user_id != actor:
        await _require_manager(svc, actor, room_id, "remove people")
    if not svc.hub.is_member(user_id, room_id):
        raise NotFound("That person is not in this room.")
    now = svc.now_ms()

    async def job(tx: Tx) -> None:
        if await rooms.remove_member(tx, room_id, user_id):
            await tx.emit("member.leave", room_id, {"user": user_id}, now, user_id=user_id)

    await svc.db.write(job)


async def leave(svc: Services, session: Session, room_id: int) -> None:
    await remove_member(svc, session.user_id, room_id, session.user_id)


async def update_room(
    svc: Services, actor: int, room_id: int, changes: dict[str, Any]
) -> dict[str, Any]:
    """Name (its managers), topic (any member), peer-to-peer (a direct room's members, on
    its own). The rights come first: an outsider gets the same 404 whatever the body."""
    row = await access_room(svc.db, actor, room_id)
    if "p2p" in changes:
        if set(changes) != {"p2p"}:
            raise BadRequest("Switch peer-to-peer on its own, without other changes.")
        return await _set_p2p(svc, actor, row, bool(changes["p2p"]))
    if row["kind"] == "direct":
        raise Conflict(DIRECT_IS_FIXED)
    fields: dict[str, str | int] = {}
    if "name" in changes:
        await _require_manager(svc, actor, room_id, "rename it")
        fields["name"] = clean_name(changes["name"], required=True)
    if "topic" in changes:
        fields["topic"] = clean_topic(changes["topic"])
    if not fields:
        return await _room_api(svc.db, int(row["id"]), actor)
    now = svc.now_ms()

    async def job(tx: Tx) -> None:
        await rooms.update(tx, room_id, fields)
        await tx.emit("room.update", room_id, {"room": await _room_api(tx, room_id)}, now)

    await svc.db.write(job)
    return await _room_api(svc.db, room_id, actor)


async def _set_p2p(svc: Services, actor: int, row: Row, on: bool) -> dict[str, Any]:
    """Any participant of a direct conversation (`row`, which `actor` may see) switches it
    to peer-to-peer (its messages then travel only between their browsers,
    docs/api/p2p.md) or back."""
    room_id = int(row["id"])
    if row["kind"] != "direct":
        raise Conflict("Only a direct conversation can be peer-to-peer.")
    if bool(row["p2p"]) != on:
        now = svc.now_ms()

        async def job(tx: Tx) -> None:
            await rooms.update(tx, room_id, {"p2p": int(on)})
            await tx.emit("room.update", room_id, {"room": await _room_api(tx, room_id)}, now)

        await svc.db.write(job)
    return await _room_api(svc.db, room_id, actor)
