"""Drawing together from different nodes: each sees the other's strokes grow and cursor
move, ops drawn at once on both nodes get one seq each and reach everyone, and whoever
opens the board later, on any node, finds the same picture in the same order."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from tests.cluster.serving import NodeFactory, make_people, two_nodes_apart
from tests.conftest import new_room
from tests.integration.painter_helpers import conn_of, open_board, paint_op, stroke
from tests.server import Server

EACH = 15  # ops each person draws at once


def viewers_are(room: int, conns: set[int]) -> Callable[[dict[str, Any]], bool]:
    return lambda f: (
        f.get("type") == "paint.viewers"
        and f.get("room") == room
        and {v["conn"] for v in f["viewers"]} == conns
    )


async def test_people_on_two_nodes_draw_on_one_board(
    nodes: NodeFactory, people: Callable[[Server, str], Any]
) -> None:
    first, second = nodes(), nodes()
    alice_name, bob_name = await make_people(first, "alice", "bob")
    alice, bob = await people(first, alice_name), await people(second, bob_name)
    room = (await new_room(alice, bob, name="sketches"))["id"]
    a, b = await alice.connect(), await bob.connect()

    await open_board(a, room)
    opened = await open_board(b, room)
    both = {conn_of(a), conn_of(b)}
    # Each sees who has the board open, on either node.
    assert {v["conn"] for v in opened["viewers"]} == both
    await a.wait_for(viewers_are(room, both))

    # A stroke being drawn and a cursor cross to the other node.
    line = stroke(0, 0, 10, 10)
    part = {k: line[k] for k in ("id", "color", "size", "points")}
    await a.send({"type": "paint.stroke", "room": room, **part})
    grown = await b.wait_for(lambda f: f.get("type") == "paint.stroke")
    assert grown["conn"] == conn_of(a) and grown["points"] == [0, 0, 10, 10]
    await b.send({"type": "paint.cursor", "room": room, "x": 5, "y": 7})
    cursor = await a.wait_for(lambda f: f.get("type") == "paint.cursor")
    assert (cursor["user"], cursor["x"], cursor["y"]) == (bob.id, 5, 7)

    # Ops drawn at the same time on both nodes: one seq each, none lost or doubled.
    mine = [stroke(i, i) for i in range(EACH)]
    theirs = [stroke(i, -i, color="#3050d0") for i in range(EACH)]

    async def draw(sock: Any, ops: list[dict[str, Any]]) -> list[int]:
        return [(await sock.ok({"type": "paint.op", "room": room, "op": op}))["seq"] for op in ops]

    seqs = await asyncio.gather(draw(a, mine), draw(b, theirs))
    everything = sorted(seqs[0] + seqs[1])
    assert everything == list(range(1, 2 * EACH + 1))
    ids = {op["id"] for op in mine + theirs}
    # Each hears the other's ops live, with the seqs they were stored under.
    for sock, others in ((a, theirs), (b, mine)):
        wanted = {op["id"] for op in others}
        await sock.until(lambda s=sock, w=wanted: w <= _ops_heard(s))  # type: ignore[misc]

    # Bob undoes his last op: Alice's node applies it too.
    undo = {"id": "undo-1", "kind": "undo", "target": theirs[-1]["id"]}
    undone = await b.ok({"type": "paint.op", "room": room, "op": undo})
    assert undone["seq"] == 2 * EACH + 1
    await a.wait_for(lambda f: paint_op(f) and f["op"]["id"] == "undo-1")

    # A later viewer, on either node, loads the same board in the same order.
    for sock in (await alice.connect(), await bob.connect()):
        board = await open_board(sock, room)
        assert board["seq"] == 2 * EACH + 1
        assert [op["seq"] for op in board["ops"]] == list(range(1, 2 * EACH + 2))
        assert {op["id"] for op in board["ops"]} == ids | {"undo-1"}


def _ops_heard(sock: Any) -> set[str]:
    return {f["op"]["id"] for f in sock.frames if paint_op(f)}


BURST = 40  # ops one person has in flight at once (within painter.ops_burst, 60)


async def test_people_drawing_flat_out_on_two_nodes_all_get_their_ops_stored(
    nodes: NodeFactory, people: Callable[[Server, str], Any]
) -> None:
    """Each node takes what the other stored from the database inside its own write, so
    neither waits for the other's news: no op is refused as a conflict however fast both
    draw (a node with a queue of ops used to starve the other into `conflict`), and an
    op stored through one node is known at once through the other."""
    _, _, alice, bob, made = await two_nodes_apart(nodes, people, "flat out")
    room = made["id"]
    a, b = await alice.connect(), await bob.connect()
    await open_board(a, room)
    await open_board(b, room)

    async def flood(sock: Any, color: str) -> list[dict[str, Any]]:
        ops = [stroke(i, i, color=color) for i in range(BURST)]
        return await asyncio.gather(
            *(sock.request({"type": "paint.op", "room": room, "op": op}) for op in ops)
        )

    replies = [r for side in await asyncio.gather(flood(a, "#d03030"), flood(b, "#3050d0"))
               for r in side]  # fmt: skip
    refused = [r["error"] for r in replies if not r["ok"]]
    assert not refused, refused[:3]
    assert sorted(r["data"]["seq"] for r in replies) == list(range(1, 2 * BURST + 1))

    # Alice's op, stored a moment ago through the first node, is known through the second:
    # Bob may not undo it because it is hers, not because his node has not heard of it.
    hers = stroke(5, 5)
    await a.ok({"type": "paint.op", "room": room, "op": hers})
    undo = {"id": "undo-hers", "kind": "undo", "target": hers["id"]}
    assert (await b.error({"type": "paint.op", "room": room, "op": undo}))["code"] == "forbidden"
