"""The WebRTC signalling relay: from one device to one device, only within a shared room."""

from __future__ import annotations

from typing import Any

from tests.conftest import UserFactory, new_room


def _signal(frame: dict[str, Any]) -> bool:
    return frame.get("type") == "rtc.signal"


def _went_offline(frame: dict[str, Any], user: int) -> bool:
    changes = frame.get("users", []) if frame.get("type") == "presence.batch" else [frame]
    return any(c.get("user") == user and c.get("online") is False for c in changes)


async def test_a_signal_reaches_only_the_addressed_device(make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await new_room(alice, bob)
    a = await alice.connect()
    b1, b2 = await bob.connect(), await bob.connect()

    listed = await a.ok({"type": "rtc.devices", "room": room["id"]})
    conns = {(d["user"], d["conn"]) for d in listed["devices"]}
    assert conns == {
        (alice.id, a.hello_reply["data"]["conn"]),
        (bob.id, b1.hello_reply["data"]["conn"]),
        (bob.id, b2.hello_reply["data"]["conn"]),
    }

    offer = {"kind": "offer", "sdp": "v=0..."}
    to = b2.hello_reply["data"]["conn"]
    await a.ok({"type": "rtc.signal", "room": room["id"], "to": to, "data": offer})
    got = await b2.wait_for(_signal)
    assert got == {
        "type": "rtc.signal",
        "room": room["id"],
        "from": a.hello_reply["data"]["conn"],
        "user": alice.id,
        "data": offer,
    }
    # The other tab of the same user heard nothing: a ping's pong arrives first.
    await b1.ok({"type": "ping"})
    assert not [f for f in b1.frames if _signal(f)]


async def test_no_signal_crosses_outside_a_shared_room(make_user: UserFactory) -> None:
    alice, bob, eve = await make_user("alice"), await make_user("bob"), await make_user("eve")
    room = await new_room(alice, bob)
    a, b, e = await alice.connect(), await bob.connect(), await eve.connect()
    bob_conn = b.hello_reply["data"]["conn"]
    eve_conn = e.hello_reply["data"]["conn"]

    # An outsider can neither list the room's devices nor signal into it.
    assert (await e.error({"type": "rtc.devices", "room": room["id"]}))["code"] == "not_found"
    error = await e.error({"type": "rtc.signal", "room": room["id"], "to": bob_conn, "data": {}})
    assert error["code"] == "not_found"
    # A member cannot reach an outsider by naming the room they share with someone else.
    error = await a.error({"type": "rtc.signal", "room": room["id"], "to": eve_conn, "data": {}})
    assert error["code"] == "not_found"
    # A socket that went away is not reachable either.
    await b.close()
    await b.closed.wait()
    await a.wait_for(lambda f: _went_offline(f, bob.id))
    error = await a.error({"type": "rtc.signal", "room": room["id"], "to": bob_conn, "data": {}})
    assert error["code"] == "not_found"
    assert not [f for f in e.frames if _signal(f)]


async def test_signal_data_must_be_an_object(make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await new_room(alice, bob)
    a, b = await alice.connect(), await bob.connect()
    to = b.hello_reply["data"]["conn"]
    error = await a.error({"type": "rtc.signal", "room": room["id"], "to": to, "data": "x"})
    assert error["code"] == "bad_request"
