"""The shared board, live: strokes reach every viewer in order, late joiners see the board,
outsiders see nothing, retries store nothing twice."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import UserFactory, new_room
from tests.integration.painter_helpers import conn_of, open_board, paint_op, stroke


async def test_a_stroke_reaches_the_other_viewers_and_a_late_joiner(
    make_user: UserFactory,
) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    room = (await new_room(alice, bob, carol))["id"]
    a, b = await alice.connect(), await bob.connect()
    assert (await open_board(a, room))["ops"] == []
    opened = await open_board(b, room)
    assert {(v["user"], v["conn"]) for v in opened["viewers"]} == {
        (alice.id, conn_of(a)),
        (bob.id, conn_of(b)),
    }

    line = stroke(10, 10, 20.5, 30, 40, 35)
    ack = await a.ok({"type": "paint.op", "room": room, "op": line})
    got = await b.wait_for(paint_op)
    expected = {**line, "author": alice.id, "seq": ack["seq"]}
    assert got == {"type": "paint.op", "room": room, "op": expected, "seq": ack["seq"]}
    # The sender hears only its reply; its own other tab viewing the board hears the op.
    a2 = await alice.connect()
    await open_board(a2, room)
    second = stroke(1, 2, 3, 4)
    await a.ok({"type": "paint.op", "room": room, "op": second})
    assert (await a2.wait_for(paint_op))["op"]["id"] == second["id"]
    assert not [f for f in a.frames if paint_op(f)]

    # Carol opens later and gets the whole board, as the others see it.
    c = await carol.connect()
    board = await open_board(c, room)
    assert [op["id"] for op in board["ops"]] == [line["id"], second["id"]]
    assert board["ops"][0] == expected
    assert board["seq"] == ack["seq"] + 1


async def test_cursors_and_growing_strokes_are_relayed_and_viewers_tracked(
    make_user: UserFactory,
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    room = (await new_room(alice, bob))["id"]
    a, b = await alice.connect(), await bob.connect()
    await open_board(a, room)
    await open_board(b, room)

    await a.send({"type": "paint.cursor", "room": room, "x": 120.5, "y": -3})
    cursor = await b.wait_for(lambda f: f.get("type") == "paint.cursor")
    assert cursor == {
        "type": "paint.cursor",
        "room": room,
        "user": alice.id,
        "conn": conn_of(a),
        "x": 120.5,
        "y": -3,
    }
    part = {"id": "s-1", "color": "#112233", "size": 6, "points": [1, 1, 2, 2]}
    await a.send({"type": "paint.stroke", "room": room, **part})
    grown = await b.wait_for(lambda f: f.get("type") == "paint.stroke")
    assert grown == {
        "type": "paint.stroke",
        "room": room,
        "user": alice.id,
        "conn": conn_of(a),
        "erase": False,
        **part,
    }
    # Closing the socket takes alice off the board's viewers.
    await a.close()
    left = await b.wait_for(lambda f: f.get("type") == "paint.viewers" and len(f["viewers"]) == 1)
    assert left["viewers"] == [{"user": bob.id, "conn": conn_of(b)}]


async def test_outsiders_get_not_found_for_every_frame(make_user: UserFactory) -> None:
    alice, eve = await make_user("alice"), await make_user("eve")
    room = (await new_room(alice))["id"]
    a, e = await alice.connect(), await eve.connect()
    await open_board(a, room)
    await a.ok({"type": "paint.op", "room": room, "op": stroke(5, 5)})
    frames: list[dict[str, Any]] = [
        {"type": "paint.open", "room": room},
        {"type": "paint.ops", "room": room, "after": 0, "until": 10},
        {"type": "paint.close", "room": room},
        {"type": "paint.op", "room": room, "op": stroke(1, 1)},
        {"type": "paint.cursor", "room": room, "x": 1, "y": 1},
        {"type": "paint.stroke", "room": room, "id": "x", "color": "#000000", "size": 2,
         "points": [1, 1]},
        {"type": "paint.open", "room": 987654321},
    ]  # fmt: skip
    for frame in frames:
        assert (await e.error(frame))["code"] == "not_found", frame
    # A member must open the board before drawing on it.
    a2 = await alice.connect()
    error = await a2.error({"type": "paint.op", "room": room, "op": stroke(1, 1)})
    assert error["code"] == "bad_request"
    assert len((await open_board(a2, room))["ops"]) == 1


async def test_someone_who_leaves_the_room_stops_seeing_the_board(
    make_user: UserFactory,
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    room = (await new_room(alice, bob, kind="channel"))["id"]
    a, b = await alice.connect(), await bob.connect()
    await open_board(a, room)
    await open_board(b, room)
    await bob.post(f"/api/rooms/{room}/leave", expect=204)
    await b.event("member.leave", room=room)
    await a.ok({"type": "paint.op", "room": room, "op": stroke(9, 9)})
    await b.ok({"type": "ping"})
    assert not [f for f in b.frames if paint_op(f)]
    error = await b.error({"type": "paint.op", "room": room, "op": stroke(1, 1)})
    assert error["code"] == "not_found"


async def test_ops_from_many_sockets_get_one_order_that_every_viewer_sees(
    make_user: UserFactory,
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    room = (await new_room(alice, bob))["id"]
    a, b, watcher = await alice.connect(), await bob.connect(), await bob.connect()
    for sock in (a, b, watcher):
        await open_board(sock, room)

    async def draw(sock: Any, n: int) -> list[int]:
        acks = await asyncio.gather(
            *(sock.ok({"type": "paint.op", "room": room, "op": stroke(i, n)}) for i in range(n))
        )
        return [ack["seq"] for ack in acks]

    seqs_a, seqs_b = await asyncio.gather(draw(a, 25), draw(b, 25))
    assert sorted(seqs_a + seqs_b) == list(range(1, 51))
    # One socket's ops keep the order they were sent in.
    assert seqs_a == sorted(seqs_a) and seqs_b == sorted(seqs_b)
    seen = [
        (await watcher.wait_for(paint_op))["seq"] for _ in range(50)
    ]  # consumed in arrival order
    # Each once. In order here; through several nodes ops may arrive out of seq order, and
    # the app places them by seq (docs/api/painter.md).
    assert sorted(seen) == list(range(1, 51))
    board = await open_board(await alice.connect(), room)
    assert [op["seq"] for op in board["ops"]] == list(range(1, 51))


async def test_a_retried_op_is_stored_once(make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    room = (await new_room(alice, bob))["id"]
    a, b = await alice.connect(), await bob.connect()
    await open_board(a, room)
    await open_board(b, room)
    op = stroke(3, 3, 4, 4)
    first = await a.ok({"type": "paint.op", "room": room, "op": op})
    # The reply was "lost": the client reconnects and sends the same op again.
    again_sock = await alice.connect()
    await open_board(again_sock, room)
    again = await again_sock.ok({"type": "paint.op", "room": room, "op": op})
    assert again == first
    # Someone else reusing the id is refused.
    clash = await b.error({"type": "paint.op", "room": room, "op": {**op, "points": [0, 0]}})
    assert clash["code"] == "conflict"
    board = await open_board(await bob.connect(), room)
    assert [o["id"] for o in board["ops"]] == [op["id"]]
    assert board["ops"][0]["points"] == [3, 3, 4, 4]


async def test_undo_and_redo_hide_and_show_ones_own_ops(make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    room = (await new_room(alice, bob))["id"]
    a, b = await alice.connect(), await bob.connect()
    await open_board(a, room)
    await open_board(b, room)
    mine = stroke(1, 1)
    await a.ok({"type": "paint.op", "room": room, "op": mine})
    undo = {"id": "u1", "kind": "undo", "target": mine["id"]}
    error = await b.error({"type": "paint.op", "room": room, "op": {**undo, "id": "u0"}})
    assert error["code"] == "forbidden"
    await a.ok({"type": "paint.op", "room": room, "op": undo})
    await a.ok({"type": "paint.op", "room": room, "op": {**undo, "id": "r1", "kind": "redo"}})
    missing = {"id": "u2", "kind": "undo", "target": "never-drawn"}
    assert (await a.error({"type": "paint.op", "room": room, "op": missing}))["code"] == (
        "not_found"
    )
    kinds = [(await b.wait_for(paint_op))["op"]["kind"] for _ in range(3)]
    assert kinds == ["stroke", "undo", "redo"]


async def test_board_ops_stay_out_of_the_event_log(make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    room = (await new_room(alice, bob))["id"]
    a = await alice.connect()
    head = a.hello_reply["data"]["head"]
    await open_board(a, room)
    for n in range(5):
        await a.ok({"type": "paint.op", "room": room, "op": stroke(n, n)})
    # A reconnecting client replays nothing of the board: it opens the board instead.
    b = await bob.connect(since=head)
    assert b.hello_reply["data"]["head"] == head
    assert b.events() == []


async def test_cursor_and_stroke_floods_are_cut_off(make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    room = (await new_room(alice, bob))["id"]
    a, b = await alice.connect(), await bob.connect()
    await open_board(a, room)
    await open_board(b, room)
    replies = await asyncio.gather(
        *(a.request({"type": "paint.cursor", "room": room, "x": n, "y": n}) for n in range(300))
    )
    refused = [r for r in replies if not r["ok"]]
    assert refused and {r["error"]["code"] for r in refused} == {"rate_limited"}
    # Bob got the cursor moves that were let through, and no more: an op Alice draws next
    # reaches him after them, on one node or through another (the same ordered channel).
    marker = await a.ok({"type": "paint.op", "room": room, "op": stroke(1, 2)})
    await b.wait_for(lambda f: paint_op(f) and f["seq"] == marker["seq"])
    moves = [f for f in b.frames if f.get("type") == "paint.cursor"]
    assert len(moves) == len(replies) - len(refused)
