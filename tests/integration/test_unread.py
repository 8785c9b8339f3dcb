"""Unread and mentions that never lie (issue 15): marking unread, and thread mentions that are
counted until the thread is seen."""

from __future__ import annotations

from typing import Any

from tests.conftest import UserFactory, new_room
from tests.integration.test_messages import at, barrier, room_state


async def test_mark_unread_moves_the_marker_back_and_tells_other_devices(
    make_user: UserFactory,
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await new_room(alice, bob)
    a, b, b2 = await alice.connect(), await bob.connect(), await bob.connect()
    sent = [await a.send_message(room["id"], f"m{i}") for i in range(5)]
    await b.ok({"type": "read.mark", "room": room["id"], "message": sent[-1]["id"]})
    assert (await room_state(bob, room["id"]))["unread"] == 0

    reply = await b.ok({"type": "read.unmark", "room": room["id"], "message": sent[2]["id"]})

    assert reply == {"message": sent[1]["id"]}  # just before the message
    state = await room_state(bob, room["id"])
    assert (state["unread"], state["last_read_message_id"]) == (3, sent[1]["id"])
    event = await b2.event(
        "read", room=room["id"], data={"user": bob.id, "message": sent[1]["id"], "moved_back": True}
    )
    assert event["data"]["moved_back"] is True
    # Alice sees the marker go back too ("seen by").
    assert (await alice.get(f"/api/rooms/{room['id']}/reads"))["reads"][str(bob.id)] == sent[1][
        "id"
    ]


async def test_mark_unread_never_moves_forward_and_the_first_message_clears_all(
    make_user: UserFactory,
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await new_room(alice, bob)
    a, b = await alice.connect(), await bob.connect()
    first = await a.send_message(room["id"], "first")
    second = await a.send_message(room["id"], "second")
    await b.ok({"type": "read.mark", "room": room["id"], "message": first["id"]})

    # Behind the marker already: nothing moves, no event.
    assert await b.ok({"type": "read.unmark", "room": room["id"], "message": second["id"]}) == {
        "message": first["id"]
    }
    assert await b.ok({"type": "read.unmark", "room": room["id"], "message": first["id"]}) == {
        "message": 0
    }
    await barrier(b)
    moved = [f for f in b.frames if f.get("kind") == "read" and f["data"].get("moved_back")]
    assert [f["data"]["message"] for f in moved] == [0]
    assert (await room_state(bob, room["id"]))["unread"] == 2


async def test_mark_unread_refuses_thread_replies_and_other_rooms(make_user: UserFactory) -> None:
    alice, bob, carol = [await make_user(p) for p in ("alice", "bob", "carol")]
    room = await new_room(alice, bob)
    other = await new_room(alice, carol)
    a, b = await alice.connect(), await bob.connect()
    root = await a.send_message(room["id"], "root")
    reply = await a.send_message(room["id"], "reply", thread=root["id"])
    elsewhere = await a.send_message(other["id"], "elsewhere")

    error = await b.error({"type": "read.unmark", "room": room["id"], "message": reply["id"]})
    assert error["code"] == "bad_request"
    error = await b.error({"type": "read.unmark", "room": room["id"], "message": elsewhere["id"]})
    assert error["code"] == "not_found"
    error = await b.error({"type": "read.unmark", "room": room["id"], "message": "x"})
    assert error["code"] == "bad_request"


async def test_a_thread_mention_counts_until_the_thread_is_seen(make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await new_room(alice, bob)
    a, b, b2 = await alice.connect(), await bob.connect(), await bob.connect()
    root = await a.send_message(room["id"], "root")
    reply = await a.send_message(room["id"], f"{at(bob)} look", thread=root["id"])
    await a.send_message(room["id"], "@here too", thread=root["id"])
    later = await a.send_message(room["id"], "in the room")

    state = await room_state(bob, room["id"])
    assert (state["mentions"], state["thread_mentions"], state["unread"]) == (2, 2, 2)
    # Reading the room does not see the thread.
    await b.ok({"type": "read.mark", "room": room["id"], "message": later["id"]})
    state = await room_state(bob, room["id"])
    assert (state["mentions"], state["thread_mentions"], state["unread"]) == (2, 2, 0)

    # Seeing the first reply clears one; the event reaches Bob's devices, not Alice's.
    assert await b.ok({"type": "thread.read", "message": reply["id"]}) == {"message": reply["id"]}
    event = await b2.event("thread.read")
    assert event["room"] is None
    assert event["data"] == {"room": room["id"], "thread": root["id"], "message": reply["id"]}
    assert (await room_state(bob, room["id"]))["mentions"] == 1

    # Seeing the thread's newest reply clears the rest; going back does not move it.
    replies = (await bob.get(f"/api/messages/{root['id']}/thread"))["replies"]
    await b.ok({"type": "thread.read", "message": replies[-1]["id"]})
    assert await b.ok({"type": "thread.read", "message": reply["id"]}) == {
        "message": replies[-1]["id"]
    }
    assert (await room_state(bob, room["id"]))["mentions"] == 0
    await barrier(a)
    assert not [f for f in a.frames if f.get("kind") == "thread.read"]


async def test_thread_read_is_refused_outside_ones_rooms(make_user: UserFactory) -> None:
    alice, bob, carol = [await make_user(p) for p in ("alice", "bob", "carol")]
    room = await new_room(alice, bob)
    a, c = await alice.connect(), await carol.connect()
    root = await a.send_message(room["id"], "root")

    error = await c.error({"type": "thread.read", "message": root["id"]})
    assert error["code"] == "not_found"


def carries(frame: dict[str, Any], message_id: int) -> bool:
    return frame.get("kind") == "message.new" and frame["data"]["message"]["id"] == message_id


async def test_room_counters_say_which_events_they_already_count(make_user: UserFactory) -> None:
    """`GET /api/rooms` and `GET /api/rooms/{id}` give the event-log position their counters
    are exact at: an app reloading while a thread mention arrives counts it once, skipping
    the replayed event at or before that position and counting the next one."""
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await new_room(alice, bob)
    a = await alice.connect()
    root = await a.send_message(room["id"], "root")
    mention = await a.send_message(room["id"], f"{at(bob)} look", thread=root["id"])

    listed = await bob.get("/api/rooms")
    one = await bob.get(f"/api/rooms/{room['id']}")
    # Bob's app resumes from before the mention: its event is replayed to him.
    b = await bob.connect(since=0)
    replayed = await b.wait_for(lambda f: carries(f, mention["id"]))
    assert replayed["seq"] <= listed["seq"] == b.hello_reply["data"]["head"]
    assert one["seq"] == listed["seq"]
    counted = next(r for r in listed["rooms"] if r["id"] == room["id"])
    assert (counted["mentions"], counted["thread_mentions"]) == (1, 1)
    assert (one["room"]["mentions"], one["room"]["thread_mentions"]) == (1, 1)

    # A mention after that position is not in those counters: the next answer counts it.
    again = await a.send_message(room["id"], f"{at(bob)} again", thread=root["id"])
    live = await b.wait_for(lambda f: carries(f, again["id"]))
    assert live["seq"] > listed["seq"]
    after = await bob.get(f"/api/rooms/{room['id']}")
    assert after["seq"] >= live["seq"]
    assert after["room"]["thread_mentions"] == 2
