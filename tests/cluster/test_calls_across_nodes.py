"""Calls between people on different `pychat serve` nodes: ringing, answering, the
signalling their browsers exchange, hanging up; a node killed mid-call, whose people
come back to their seats through another node; and a call only a killed node held, ended
and recorded by the node still up."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.cluster.serving import NodeFactory, make_people, two_nodes_apart
from tests.conftest import new_room
from tests.integration.test_call_records import record, records
from tests.integration.test_calls import call_frame, conn_of, is_type
from tests.integration.test_calls import people as in_call
from tests.server import Server

NODE_GONE_S = 40  # a killed node's devices are away once its entry expires (15 s) and a sweep


def seat(call: dict[str, Any] | None, user: int) -> dict[str, Any] | None:
    return next((p for p in call["participants"] if p["user"] == user), None) if call else None


async def test_people_on_two_nodes_ring_answer_signal_and_hang_up(
    nodes: NodeFactory, people: Callable[[Server, str], Any]
) -> None:
    _, _, alice, bob, _ = await two_nodes_apart(nodes, people, "unused")
    room = (await new_room(alice, bob, kind="direct"))["id"]
    a, b = await alice.connect(), await bob.connect()
    assert conn_of(a) >> 32 != conn_of(b) >> 32  # device ids name their node

    started = await a.ok({"type": "rtc.call.join", "room": room, "audio": True, "video": True})
    call = started["call"]
    ring = await b.wait_for(is_type("rtc.ring", room))
    assert ring["from"] == alice.id and ring["call"]["id"] == call["id"]

    joined = await b.ok({"type": "rtc.call.join", "room": room, "audio": True, "video": False})
    assert in_call(joined["call"]) == {alice.id, bob.id}
    seen = await a.wait_for(call_frame(room, lambda c: len(in_call(c)) == 2))
    assert seat(seen["call"], bob.id) == seat(joined["call"], bob.id)
    assert seat(seen["call"], bob.id)["conn"] == conn_of(b)  # type: ignore[index]

    # Each lists the other's device, and their signalling reaches it across the nodes.
    listed = (await a.ok({"type": "rtc.devices", "room": room}))["devices"]
    assert {"user": bob.id, "conn": conn_of(b)} in listed
    offer = {"call": call["id"], "description": {"type": "offer", "sdp": "v=0"}}
    await a.ok({"type": "rtc.signal", "room": room, "to": conn_of(b), "data": offer})
    got = await b.wait_for(lambda f: f.get("type") == "rtc.signal")
    assert got == {
        "type": "rtc.signal",
        "room": room,
        "from": conn_of(a),
        "user": alice.id,
        "data": offer,
    }
    answer = {"call": call["id"], "description": {"type": "answer", "sdp": "v=0"}}
    await b.ok({"type": "rtc.signal", "room": room, "to": conn_of(a), "data": answer})
    assert (await a.wait_for(lambda f: f.get("type") == "rtc.signal"))["data"] == answer
    # A device that does not exist, on the other node or on none, is refused as on one.
    for nobody in (conn_of(b) + 1000, (999 << 32) + 1):
        error = await a.error({"type": "rtc.signal", "room": room, "to": nobody, "data": {}})
        assert error["code"] == "not_found"

    # Both see the same call, whichever node they ask.
    assert [c["id"] for c in (await b.ok({"type": "rtc.calls"}))["calls"]] == [call["id"]]
    await b.ok({"type": "rtc.call.leave", "room": room})
    await a.wait_for(call_frame(room, lambda c: c is not None and in_call(c) == {alice.id}))
    await a.ok({"type": "rtc.call.leave", "room": room})
    ended = await b.wait_for(call_frame(room, lambda c: c is None))
    assert ended["reason"] == "empty"
    assert (await a.ok({"type": "rtc.calls"}))["calls"] == []


async def test_a_node_killed_mid_call_its_person_takes_her_seat_back_through_another(
    nodes: NodeFactory, people: Callable[[Server, str], Any]
) -> None:
    a_node, b_node, alice, bob, _ = await two_nodes_apart(nodes, people, "unused")
    room = (await new_room(alice, bob, kind="direct"))["id"]
    a, b = await alice.connect(), await bob.connect()
    await a.ok({"type": "rtc.call.join", "room": room, "audio": True, "video": False})
    await b.wait_for(is_type("rtc.ring", room))
    await b.ok({"type": "rtc.call.join", "room": room, "audio": True, "video": False})
    before = await a.wait_for(call_frame(room, lambda c: len(in_call(c)) == 2))
    old_conn = conn_of(b)

    b_node.kill()  # kill -9: nobody tells anyone bob's socket is gone
    away = await a.wait_for(
        call_frame(room, lambda c: (seat(c, bob.id) or {}).get("connected") is False),
        timeout=NODE_GONE_S,
    )
    assert seat(away["call"], bob.id)["conn"] == old_conn  # type: ignore[index]

    # Bob's app reconnects, through the node still up, and takes his seat back.
    bob_again = await people(a_node, bob.user["username"])
    b2 = await bob_again.connect()
    back = await b2.ok(
        {
            "type": "rtc.call.join",
            "room": room,
            "audio": True,
            "video": False,
            "replaces": old_conn,
        }
    )
    assert back["replaced"] is True
    now = await a.wait_for(
        call_frame(room, lambda c: (seat(c, bob.id) or {}).get("conn") == conn_of(b2))
    )
    bob_seat = seat(now["call"], bob.id)
    assert bob_seat is not None and bob_seat["connected"] is True
    assert bob_seat["joined_at"] == seat(before["call"], bob.id)["joined_at"]  # type: ignore[index]


async def test_a_call_left_on_a_killed_node_is_ended_and_recorded_by_another(
    nodes: NodeFactory, people: Callable[[Server, str], Any]
) -> None:
    """Alice and Bob call each other through one node, which is then killed: the node
    still up marks their devices away, and once the rejoin grace is over ends the call and
    writes its end in the room's timeline, as a restart does on one device."""
    grace = {"PYCHAT_CALLS_REJOIN_GRACE_S": "1"}
    watcher, doomed = nodes(**grace), nodes(**grace)
    alice_name, bob_name = await make_people(watcher, "alice", "bob")
    alice, bob = await people(doomed, alice_name), await people(doomed, bob_name)
    room = (await new_room(alice, bob, kind="direct"))["id"]
    a, b = await alice.connect(), await bob.connect()
    call = (await a.ok({"type": "rtc.call.join", "room": room, "audio": True, "video": False}))[
        "call"
    ]
    await b.wait_for(is_type("rtc.ring", room))
    await b.ok({"type": "rtc.call.join", "room": room, "audio": True, "video": False})
    await b.wait_for(record(room, "started"))

    doomed.kill()
    alice_elsewhere = await people(watcher, alice_name)
    watching = await alice_elsewhere.connect()
    ended = await watching.wait_for(record(room, "ended"), timeout=NODE_GONE_S)
    assert ended["data"]["message"]["call"]["id"] == call["id"]
    assert (await watching.ok({"type": "rtc.calls"}))["calls"] == []
    assert [c["event"] for _, c in await records(alice_elsewhere, room)] == ["started", "ended"]


async def test_the_test_call_is_answered_whichever_node_made_the_echo_account(
    nodes: NodeFactory, people: Callable[[Server, str], Any]
) -> None:
    """The Echo account is made through one node (its bot listens there), the call is
    started through another: a bot answers, and its offer reaches the caller's device."""
    first, second = nodes(), nodes()
    (name,) = await make_people(first, "caller")
    on_second, on_first = await people(second, name), await people(first, name)
    room = (await on_second.post("/api/test-call"))["room"]
    sock = await on_first.connect()
    await sock.ok({"type": "rtc.call.join", "room": room["id"], "audio": True, "video": False})
    echo = next(m for m in room["members"] if m != on_first.id)
    answered = await sock.wait_for(
        call_frame(room["id"], lambda c: in_call(c) == {on_first.id, echo}), timeout=30
    )
    bot_conn = seat(answered["call"], echo)["conn"]  # type: ignore[index]
    assert bot_conn >> 32 != conn_of(sock) >> 32  # the bot is on the other node
    offer = await sock.wait_for(lambda f: f.get("type") == "rtc.signal", timeout=30)
    assert offer["from"] == bot_conn and offer["user"] == echo
    assert offer["data"]["kind"] == "offer" and offer["data"]["call"] == answered["call"]["id"]
    await sock.ok({"type": "rtc.call.leave", "room": room["id"]})
    await sock.wait_for(call_frame(room["id"], lambda c: c is None), timeout=30)
