"""Calls against the real server: ringing every device of the callee, answering, declining,
busy, joining later, leaving, surviving a reconnect, and nothing for outsiders."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.client import Client, Socket
from tests.conftest import UserFactory, new_room
from tests.server import ADMIN_PASSWORD, Server


def conn_of(sock: Socket) -> int:
    return int(sock.hello_reply["data"]["conn"])


def is_type(kind: str, room: int) -> Callable[[dict[str, Any]], bool]:
    return lambda f: f.get("type") == kind and f.get("room") == room


def call_frame(room: int, test: Callable[[dict[str, Any] | None], bool]) -> Any:
    return lambda f: is_type("rtc.call", room)(f) and test(f["call"])


def people(call: dict[str, Any] | None) -> set[int]:
    return {p["user"] for p in call["participants"]} if call else set()


async def quiet(sock: Socket, kinds: tuple[str, ...] = ("rtc.call", "rtc.ring")) -> bool:
    """Whether the socket has heard none of these (a ping's pong comes after any of them)."""
    await sock.ok({"type": "ping"})
    return not [f for f in sock.frames if f.get("type", "").startswith(kinds)]


async def test_a_call_rings_every_device_of_the_callee_and_one_answer_stops_the_rest(
    make_user: UserFactory,
) -> None:
    alice, bob, eve = await make_user("alice"), await make_user("bob"), await make_user("eve")
    dm = await new_room(alice, bob, kind="direct")
    room = dm["id"]
    a = await alice.connect()
    phone, laptop = await bob.connect(), await bob.connect()
    e = await eve.connect()

    started = await a.ok({"type": "rtc.call.join", "room": room, "audio": True, "video": True})
    call = started["call"]
    assert started["replaced"] is False
    assert people(call) == {alice.id}
    assert call["ringing"] == [bob.id] and call["started_by"] == alice.id
    for device in (phone, laptop):
        ring = await device.wait_for(is_type("rtc.ring", room))
        assert ring["from"] == alice.id and ring["video"] is True
        assert ring["call"]["id"] == call["id"]

    joined = await laptop.ok({"type": "rtc.call.join", "room": room, "audio": True, "video": False})
    assert people(joined["call"]) == {alice.id, bob.id}
    assert joined["call"]["ringing"] == []
    stop = await phone.wait_for(is_type("rtc.ring.stop", room))
    assert stop == {"type": "rtc.ring.stop", "room": room, "call": call["id"], "reason": "answered"}
    # The caller sees who is in the call, and which device to negotiate with.
    seen = await a.wait_for(call_frame(room, lambda c: c is not None and len(people(c)) == 2))
    bob_seat = next(p for p in seen["call"]["participants"] if p["user"] == bob.id)
    assert bob_seat["conn"] == conn_of(laptop) and bob_seat["video"] is False
    # The outsider heard nothing and sees no call.
    assert await quiet(e)
    assert (await e.ok({"type": "rtc.calls"}))["calls"] == []
    listed = (await phone.ok({"type": "rtc.calls"}))["calls"]
    assert [c["id"] for c in listed] == [call["id"]]


async def test_declining_stops_the_ring_everywhere_and_ends_an_unanswered_call(
    make_user: UserFactory,
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    room = (await new_room(alice, bob, kind="direct"))["id"]
    a = await alice.connect()
    b1, b2 = await bob.connect(), await bob.connect()
    await a.ok({"type": "rtc.call.join", "room": room, "audio": True, "video": False})
    await b1.wait_for(is_type("rtc.ring", room))

    await b1.ok({"type": "rtc.call.decline", "room": room})
    for device in (b1, b2):
        stop = await device.wait_for(is_type("rtc.ring.stop", room))
        assert stop["reason"] == "declined"
    ended = await a.wait_for(call_frame(room, lambda c: c is None))
    assert ended["reason"] == "declined"
    assert (await a.ok({"type": "rtc.calls"}))["calls"] == []
    # Declining when there is no call is a clear error, and changes nothing.
    error = await b1.error({"type": "rtc.call.decline", "room": room})
    assert error["code"] == "not_found"


async def test_someone_already_in_a_call_is_busy_not_rung(make_user: UserFactory) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("c")
    with_carol = (await new_room(bob, carol, kind="direct"))["id"]
    with_alice = (await new_room(alice, bob, kind="direct"))["id"]
    a, b, c = await alice.connect(), await bob.connect(), await carol.connect()
    await b.ok({"type": "rtc.call.join", "room": with_carol, "audio": True, "video": False})
    await c.ok({"type": "rtc.call.join", "room": with_carol, "audio": True, "video": False})

    call = (
        await a.ok({"type": "rtc.call.join", "room": with_alice, "audio": True, "video": False})
    )["call"]
    assert call["busy"] == [bob.id] and call["ringing"] == []
    await b.wait_for(call_frame(with_alice, lambda c: c is not None))
    assert not [f for f in b.frames if f.get("type") == "rtc.ring"]
    # Bob can still switch calls: joining this one takes him out of the other.
    await b.ok({"type": "rtc.call.join", "room": with_alice, "audio": True, "video": False})
    left = await c.wait_for(call_frame(with_carol, lambda c: people(c) == {carol.id}))
    assert people(left["call"]) == {carol.id}
    await a.wait_for(call_frame(with_alice, lambda c: c is not None and bob.id in people(c)))


async def test_an_unanswered_ring_times_out_and_the_call_ends(
    make_server: Callable[..., Server], make_user: UserFactory
) -> None:
    srv = make_server({"PYCHAT_CALLS_RING_TIMEOUT_S": "1"})
    admin = await Client(srv.url).login("admin", ADMIN_PASSWORD)
    try:
        alice = await make_user("alice", base_url=srv.url, via=admin)
        bob = await make_user("bob", base_url=srv.url, via=admin)
        room = (await new_room(alice, bob, kind="direct"))["id"]
        a, b = await alice.connect(), await bob.connect()
        await a.ok({"type": "rtc.call.join", "room": room, "audio": True, "video": True})
        await b.wait_for(is_type("rtc.ring", room))
        stop = await b.wait_for(is_type("rtc.ring.stop", room))
        assert stop["reason"] == "timeout"
        ended = await a.wait_for(call_frame(room, lambda c: c is None))
        assert ended["reason"] == "unanswered"
    finally:
        await admin.close()


async def test_join_later_leave_and_the_last_one_out_ends_the_call(make_user: UserFactory) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("c")
    room = (await new_room(alice, bob, carol))["id"]
    a, b, c = await alice.connect(), await bob.connect(), await carol.connect()
    await a.ok({"type": "rtc.call.join", "room": room, "audio": True, "video": True})
    await b.ok({"type": "rtc.call.join", "room": room, "audio": True, "video": True})
    # Carol let it ring out... and joins the running call later.
    await c.ok({"type": "rtc.call.decline", "room": room})
    later = await c.ok({"type": "rtc.call.join", "room": room, "audio": True, "video": False})
    assert people(later["call"]) == {alice.id, bob.id, carol.id}
    assert later["call"]["declined"] == []

    updated = await b.ok(
        {"type": "rtc.call.update", "room": room, "audio": False, "video": True, "screen": True}
    )
    seat = next(p for p in updated["call"]["participants"] if p["user"] == bob.id)
    assert (seat["audio"], seat["video"], seat["screen"]) == (False, True, True)
    await a.wait_for(
        call_frame(room, lambda c: c is not None and any(p["screen"] for p in c["participants"]))
    )

    a.frames.clear()  # what follows is news
    await c.ok({"type": "rtc.call.leave", "room": room})
    await a.wait_for(call_frame(room, lambda c: people(c) == {alice.id, bob.id}))
    await a.ok({"type": "rtc.call.leave", "room": room})
    await b.ok({"type": "rtc.call.leave", "room": room})
    ended = await c.wait_for(call_frame(room, lambda c: c is None))
    assert ended["reason"] == "empty"
    # Leaving twice is harmless; updating a call one is not in is not.
    await b.ok({"type": "rtc.call.leave", "room": room})
    error = await b.error(
        {"type": "rtc.call.update", "room": room, "audio": True, "video": True, "screen": False}
    )
    assert error["code"] == "not_found"


async def test_a_reconnected_tab_takes_its_seat_back_with_replaces(make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    room = (await new_room(alice, bob, kind="direct"))["id"]
    a, b = await alice.connect(), await bob.connect()
    await a.ok({"type": "rtc.call.join", "room": room, "audio": True, "video": True})
    seat = (await b.ok({"type": "rtc.call.join", "room": room, "audio": True, "video": True}))[
        "call"
    ]
    joined_at = next(p["joined_at"] for p in seat["participants"] if p["user"] == bob.id)
    old = conn_of(b)

    await b.close()
    away = await a.wait_for(
        call_frame(
            room, lambda c: c is not None and not all(p["connected"] for p in c["participants"])
        )
    )
    assert people(away["call"]) == {alice.id, bob.id}
    b2 = await bob.connect()
    back = await b2.ok(
        {"type": "rtc.call.join", "room": room, "audio": True, "video": True, "replaces": old}
    )
    assert back["replaced"] is True
    mine = next(p for p in back["call"]["participants"] if p["user"] == bob.id)
    assert mine["conn"] == conn_of(b2) and mine["joined_at"] == joined_at and mine["connected"]
    seen = await a.wait_for(
        call_frame(
            room, lambda c: c is not None and conn_of(b2) in [p["conn"] for p in c["participants"]]
        )
    )
    assert people(seen["call"]) == {alice.id, bob.id}
    # Signalling reaches the new socket.
    await a.ok({"type": "rtc.signal", "room": room, "to": conn_of(b2), "data": {"kind": "restart"}})
    await b2.wait_for(lambda f: f.get("type") == "rtc.signal")


async def test_a_seat_left_empty_past_the_grace_is_given_up(
    make_server: Callable[..., Server], make_user: UserFactory
) -> None:
    srv = make_server({"PYCHAT_CALLS_REJOIN_GRACE_S": "0.5"})
    admin = await Client(srv.url).login("admin", ADMIN_PASSWORD)
    try:
        alice = await make_user("alice", base_url=srv.url, via=admin)
        bob = await make_user("bob", base_url=srv.url, via=admin)
        rid = (await new_room(alice, bob))["id"]
        a, b = await alice.connect(), await bob.connect()
        await a.ok({"type": "rtc.call.join", "room": rid, "audio": True, "video": False})
        await b.ok({"type": "rtc.call.join", "room": rid, "audio": True, "video": False})
        old = conn_of(b)
        await a.wait_for(call_frame(rid, lambda c: people(c) == {alice.id, bob.id}))
        a.frames.clear()  # what follows is news
        await b.close()
        await a.wait_for(call_frame(rid, lambda c: people(c) == {alice.id}))
        # Too late to take the seat back: a fresh join (the client negotiates anew).
        b2 = await bob.connect()
        back = await b2.ok(
            {"type": "rtc.call.join", "room": rid, "audio": True, "video": False, "replaces": old}
        )
        assert back["replaced"] is False and people(back["call"]) == {alice.id, bob.id}
    finally:
        await admin.close()


async def test_outsiders_cannot_join_see_or_signal_a_call(make_user: UserFactory) -> None:
    alice, bob, eve = await make_user("alice"), await make_user("bob"), await make_user("eve")
    room = (await new_room(alice, bob))["id"]
    a, b, e = await alice.connect(), await bob.connect(), await eve.connect()
    await a.ok({"type": "rtc.call.join", "room": room, "audio": True, "video": True})
    await b.ok({"type": "rtc.call.join", "room": room, "audio": True, "video": True})

    frames = [
        {"type": "rtc.call.join", "room": room, "audio": True, "video": True},
        {"type": "rtc.call.leave", "room": room},
        {"type": "rtc.call.decline", "room": room},
        {"type": "rtc.call.update", "room": room, "audio": True, "video": True, "screen": False},
        {"type": "rtc.signal", "room": room, "to": conn_of(a), "data": {"kind": "offer"}},
    ]
    for frame in frames:
        assert (await e.error(frame))["code"] == "not_found", frame
    assert (await e.ok({"type": "rtc.calls"}))["calls"] == []
    assert await quiet(e)
    # A member leaving the room leaves its call, and hears no more of it.
    await a.wait_for(call_frame(room, lambda c: people(c) == {alice.id, bob.id}))
    a.frames.clear()
    await bob.post(f"/api/rooms/{room}/leave", expect=204)
    gone = await b.wait_for(call_frame(room, lambda c: c is None))
    assert gone["reason"] == "removed"  # told its seat went, and nothing of the call
    await a.wait_for(call_frame(room, lambda c: people(c) == {alice.id}))
    assert (await b.error({"type": "rtc.call.join", "room": room, "audio": True, "video": True}))[
        "code"
    ] == "not_found"


async def test_bad_call_frames_get_clear_errors_and_change_nothing(
    make_user: UserFactory,
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    room = (await new_room(alice, bob))["id"]
    a = await alice.connect()
    bad = [
        {"type": "rtc.call.join", "room": room, "audio": True},
        {"type": "rtc.call.join", "room": room, "audio": "yes", "video": True},
        {"type": "rtc.call.join", "room": room, "audio": True, "video": True, "replaces": -1},
        {"type": "rtc.call.join", "room": "x", "audio": True, "video": True},
        {"type": "rtc.call.update", "room": room, "audio": True, "video": True},
    ]
    for frame in bad:
        assert (await a.error(frame))["code"] == "bad_request", frame
    assert (await a.ok({"type": "rtc.calls"}))["calls"] == []


async def test_a_full_call_refuses_one_more(
    make_server: Callable[..., Server], make_user: UserFactory
) -> None:
    srv = make_server({"PYCHAT_CALLS_MAX_PARTICIPANTS": "2"})
    admin = await Client(srv.url).login("admin", ADMIN_PASSWORD)
    try:
        users = [await make_user(n, base_url=srv.url, via=admin) for n in ("a", "b", "c")]
        room = (await new_room(*users))["id"]
        socks = [await u.connect() for u in users]
        for sock in socks[:2]:
            await sock.ok({"type": "rtc.call.join", "room": room, "audio": True, "video": False})
        error = await socks[2].error(
            {"type": "rtc.call.join", "room": room, "audio": True, "video": False}
        )
        assert error["code"] == "conflict"
        assert len((await socks[2].ok({"type": "rtc.calls"}))["calls"][0]["participants"]) == 2
    finally:
        await admin.close()
