"""Calls leave a trace and ring only where they should (issue 15, correctness item 4):
records of started, ended (with its duration) and missed calls in the room's timeline,
durable like messages; a channel call rings nobody unless someone is rung on purpose."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.client import Client, Socket
from tests.conftest import USER_PASSWORD, UserFactory, new_room
from tests.server import ADMIN_PASSWORD, Server


def is_type(kind: str, room: int) -> Callable[[dict[str, Any]], bool]:
    return lambda f: f.get("type") == kind and f.get("room") == room


def record(room: int, event: str) -> Callable[[dict[str, Any]], bool]:
    """A `message.new` event carrying the room's call record of this kind."""

    def match(f: dict[str, Any]) -> bool:
        if f.get("type") != "event" or f.get("kind") != "message.new" or f.get("room") != room:
            return False
        call = f["data"]["message"].get("call")
        return isinstance(call, dict) and call.get("event") == event

    return match


async def records(client: Client, room: int) -> list[tuple[int, dict[str, Any]]]:
    """(author, call) of the call records in the room's history, oldest first."""
    page = await client.get(f"/api/rooms/{room}/messages")
    return [(m["author"], m["call"]) for m in page["messages"] if m.get("call") is not None]


async def quiet(sock: Socket, kind: str) -> bool:
    """Whether the socket has heard no frame of this type (a pong comes after any of them)."""
    await sock.ok({"type": "ping"})
    return not [f for f in sock.frames if f.get("type") == kind]


async def test_an_answered_dm_call_leaves_started_and_ended_with_its_duration(
    make_user: UserFactory,
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    dm = (await new_room(alice, bob, kind="direct"))["id"]
    a, b = await alice.connect(), await bob.connect()
    before = int(b.hello_reply["data"]["head"])

    call = (await a.ok({"type": "rtc.call.join", "room": dm, "audio": True, "video": False}))[
        "call"
    ]
    await b.wait_for(is_type("rtc.ring", dm))  # a direct call rings
    await b.ok({"type": "rtc.call.join", "room": dm, "audio": True, "video": False})
    await a.ok({"type": "rtc.call.leave", "room": dm})
    await b.ok({"type": "rtc.call.leave", "room": dm})
    started = (await b.wait_for(record(dm, "started")))["data"]["message"]
    ended = (await b.wait_for(record(dm, "ended")))["data"]["message"]

    # Written by the server, in the caller's name, with nothing to search or mention.
    assert started["author"] == ended["author"] == alice.id
    assert started["body"] == ended["body"] == ""
    assert started["mentions"] == [] and started["mention_room"] is False
    assert started["call"] == {"id": call["id"], "event": "started"}
    assert ended["call"]["id"] == call["id"]
    assert 0 <= ended["call"]["duration_ms"] <= ended["created_at"] - started["created_at"] + 1
    assert started["id"] < ended["id"]
    # In history, in that order.
    assert await records(bob, dm) == [(alice.id, started["call"]), (alice.id, ended["call"])]
    # In the replay of a device that was away.
    back = await bob.connect(since=before)
    replayed = [
        f["data"]["message"]["call"]
        for f in back.events()
        if f["kind"] == "message.new" and f["data"]["message"].get("call")
    ]
    assert replayed == [started["call"], ended["call"]]
    # Activity for Bob, never a mention; and nobody edits the server's line.
    rooms = {r["id"]: r for r in (await bob.get("/api/rooms"))["rooms"]}
    assert rooms[dm]["last_message_id"] == ended["id"] and rooms[dm]["mentions"] == 0
    error = await a.error({"type": "message.edit", "message": ended["id"], "body": "no call"})
    assert error["code"] == "bad_request"


async def test_an_unanswered_dm_call_leaves_missed(make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    dm = (await new_room(alice, bob, kind="direct"))["id"]
    a, b = await alice.connect(), await bob.connect()

    # Bob declines: missed. Alice calls again and hangs up before he answers: missed too.
    first = (await a.ok({"type": "rtc.call.join", "room": dm, "audio": True, "video": True}))[
        "call"
    ]
    await b.wait_for(is_type("rtc.ring", dm))
    await b.ok({"type": "rtc.call.decline", "room": dm})
    await b.wait_for(record(dm, "missed"))
    await a.wait_for(lambda f: is_type("rtc.call", dm)(f) and f["call"] is None)
    second = (await a.ok({"type": "rtc.call.join", "room": dm, "audio": True, "video": False}))[
        "call"
    ]
    await b.wait_for(is_type("rtc.ring", dm))
    await a.ok({"type": "rtc.call.leave", "room": dm})
    await b.wait_for(record(dm, "missed"))

    assert await records(bob, dm) == [
        (alice.id, {"id": first["id"], "event": "started"}),
        (alice.id, {"id": first["id"], "event": "missed"}),
        (alice.id, {"id": second["id"], "event": "started"}),
        (alice.id, {"id": second["id"], "event": "missed"}),
    ]


async def test_a_channel_call_rings_nobody_and_members_see_it_to_join(
    make_user: UserFactory,
) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("c")
    room = (await new_room(alice, bob, carol, kind="channel"))["id"]
    a, b, c = await alice.connect(), await bob.connect(), await carol.connect()

    call = (await a.ok({"type": "rtc.call.join", "room": room, "audio": True, "video": True}))[
        "call"
    ]
    assert call["ringing"] == [] and call["busy"] == []
    for sock in (b, c):
        # The banner's state: the room's running call, with the caller in it; no ring.
        seen = await sock.wait_for(lambda f: is_type("rtc.call", room)(f) and f["call"])
        assert [p["user"] for p in seen["call"]["participants"]] == [alice.id]
        await sock.wait_for(record(room, "started"))
        assert await quiet(sock, "rtc.ring")
    # Anyone joins; when the last one leaves, it ended (never "missed": nobody was rung).
    await b.ok({"type": "rtc.call.join", "room": room, "audio": True, "video": False})
    await a.ok({"type": "rtc.call.leave", "room": room})
    await b.ok({"type": "rtc.call.leave", "room": room})
    ended = await c.wait_for(record(room, "ended"))
    assert ended["data"]["message"]["author"] == alice.id
    assert [e for _, e in await records(carol, room)] == [
        {"id": call["id"], "event": "started"},
        ended["data"]["message"]["call"],
    ]


async def test_ringing_one_person_on_purpose_in_a_channel_rings_only_them(
    make_user: UserFactory,
) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("c")
    eve = await make_user("eve")
    room = (await new_room(alice, bob, carol, kind="channel"))["id"]
    a, b, c = await alice.connect(), await bob.connect(), await carol.connect()
    await a.ok({"type": "rtc.call.join", "room": room, "audio": True, "video": False})

    rung = await a.ok({"type": "rtc.call.ring", "room": room, "user": bob.id})
    assert rung["call"]["ringing"] == [bob.id]
    ring = await b.wait_for(is_type("rtc.ring", room))
    assert ring["from"] == alice.id and ring["call"]["ringing"] == [bob.id]
    await c.wait_for(lambda f: is_type("rtc.call", room)(f) and f["call"]["ringing"] == [bob.id])
    assert await quiet(c, "rtc.ring")

    # Bob declines: his ring stops, and Alice's channel call goes on (it is not "missed").
    await b.ok({"type": "rtc.call.decline", "room": room})
    stop = await b.wait_for(is_type("rtc.ring.stop", room))
    assert stop["reason"] == "declined"
    listed = (await a.ok({"type": "rtc.calls"}))["calls"]
    assert [(x["room"], x["declined"]) for x in listed] == [(room, [bob.id])]

    # Bad rings are clear errors: not in the call, oneself, an outsider, a malformed id.
    assert (await c.error({"type": "rtc.call.ring", "room": room, "user": bob.id}))[
        "code"
    ] == "not_found"
    assert (await a.error({"type": "rtc.call.ring", "room": room, "user": alice.id}))[
        "code"
    ] == "bad_request"
    assert (await a.error({"type": "rtc.call.ring", "room": room, "user": eve.id}))[
        "code"
    ] == "not_found"
    assert (await a.error({"type": "rtc.call.ring", "room": room, "user": "bob"}))[
        "code"
    ] == "bad_request"
    assert await quiet(c, "rtc.ring")


async def _dm_call_between(srv: Server) -> tuple[Client, Client, int, int]:
    """Alice and Bob, both in a direct call on `srv`: (alice, bob, room, call id)."""
    admin = await Client(srv.url).login("admin", ADMIN_PASSWORD)
    try:
        for name in ("alice", "bob"):
            await admin.post(
                "/api/admin/users", {"username": name, "password": USER_PASSWORD}, expect=201
            )
    finally:
        await admin.close()
    alice = await Client(srv.url).login("alice", USER_PASSWORD)
    bob = await Client(srv.url).login("bob", USER_PASSWORD)
    dm = (await new_room(alice, bob, kind="direct"))["id"]
    a, b = await alice.connect(), await bob.connect()
    join = {"type": "rtc.call.join", "room": dm, "audio": True, "video": False}
    call = (await a.ok(join))["call"]
    await b.wait_for(is_type("rtc.ring", dm))
    await b.ok(join)
    await b.wait_for(record(dm, "started"))  # durable before the server goes
    return alice, bob, dm, int(call["id"])


async def test_a_server_that_stops_ends_its_calls_with_their_duration(
    make_server: Callable[..., Server],
) -> None:
    srv = make_server()
    alice, bob, dm, call = await _dm_call_between(srv)
    sock = bob.sockets[-1]
    try:
        assert srv.stop() == 0  # SIGTERM
        # Bob's device heard why the call ended before its socket closed.
        gone = await sock.wait_for(lambda f: f.get("type") == "rtc.call" and f["call"] is None)
        assert gone["reason"] == "shutdown"
    finally:
        await alice.close()
        await bob.close()

    srv.start()
    bob = await Client(srv.url).login("bob", USER_PASSWORD)
    try:
        history = await records(bob, dm)
        assert [c["event"] for _, c in history] == ["started", "ended"]
        assert all(c["id"] == call for _, c in history)
        ended = history[1][1]
        assert ended["duration_ms"] >= 0 and "interrupted" not in ended
    finally:
        await bob.close()


async def test_a_call_cut_by_kill_9_is_closed_when_the_server_starts_again(
    make_server: Callable[..., Server],
) -> None:
    srv = make_server()
    alice, bob, dm, call = await _dm_call_between(srv)
    await alice.close()
    await bob.close()
    srv.kill()  # like a power cut: nothing ends the call

    srv.start()
    bob = await Client(srv.url).login("bob", USER_PASSWORD)
    try:
        history = await records(bob, dm)
        # No call is left "started" for ever: it ended, and the record says the time is unknown.
        assert history == [
            (alice.id, {"id": call, "event": "started"}),
            (alice.id, {"id": call, "event": "ended", "interrupted": True}),
        ]
        rooms = {r["id"]: r for r in (await bob.get("/api/rooms"))["rooms"]}
        assert rooms[dm]["mentions"] == 0
    finally:
        await bob.close()
    # Once closed it stays closed: another start writes nothing more.
    srv.stop()
    srv.start()
    bob = await Client(srv.url).login("bob", USER_PASSWORD)
    try:
        assert len(await records(bob, dm)) == 2
    finally:
        await bob.close()
