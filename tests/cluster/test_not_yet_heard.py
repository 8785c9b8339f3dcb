"""What was done through one node a moment ago counts at once through another: a request
that finds nothing catches up with the log before it answers 404 (web/catch_up.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.cluster.serving import NodeFactory, make_people
from tests.conftest import new_room
from tests.server import Server

ROUNDS = 12  # each round is a race with the bus: many, so the old answer (404) shows up


async def test_someone_added_through_one_node_can_be_removed_at_once_through_another(
    nodes: NodeFactory, people: Callable[[Server, str], Any]
) -> None:
    first, second = nodes(), nodes()
    alice_name, bob_name, carol_name = await make_people(first, "alice", "bob", "carol")
    here, there = await people(first, alice_name), await people(second, alice_name)
    bob, carol = await people(first, bob_name), await people(first, carol_name)
    room = (await new_room(here, bob))["id"]
    for i in range(ROUNDS):
        status, added = await here.call(
            "POST", f"/api/rooms/{room}/members", {"user_ids": [carol.id]}
        )
        assert status == 200 and carol.id in added["room"]["members"], (i, added)
        status, removed = await there.call("DELETE", f"/api/rooms/{room}/members/{carol.id}")
        assert status == 204, (i, removed)
    status, found = await there.call("GET", f"/api/rooms/{room}")
    assert status == 200 and carol.id not in found["room"]["members"], found


async def test_leaving_a_channel_through_one_node_and_joining_through_another_lands_in_it(
    nodes: NodeFactory, people: Callable[[Server, str], Any]
) -> None:
    first, second = nodes(), nodes()
    alice_name, bob_name = await make_people(first, "alice", "bob")
    alice = await people(first, alice_name)
    here, there = await people(first, bob_name), await people(second, bob_name)
    channel = (await new_room(alice, kind="channel"))["id"]
    for i in range(ROUNDS):
        status, joined = await here.call("POST", f"/api/rooms/{channel}/join", {})
        assert status == 200 and here.id in joined["room"]["members"], (i, joined)
        status, left = await there.call("POST", f"/api/rooms/{channel}/leave", {})
        assert status == 204, (i, left)
    status, found = await alice.call("GET", f"/api/rooms/{channel}")
    assert status == 200 and here.id not in found["room"]["members"], found


async def test_someone_removed_through_one_node_cannot_join_back_through_another(
    nodes: NodeFactory, people: Callable[[Server, str], Any]
) -> None:
    """A private room is joined by being added, never by `join`: a node that has not yet
    heard of Bob's removal still refuses him, and he reads nothing more."""
    first, second = nodes(), nodes()
    alice_name, bob_name = await make_people(first, "alice", "bob")
    alice = await people(first, alice_name)
    bob = await people(second, bob_name)
    room = (await new_room(alice, bob))["id"]
    for i in range(ROUNDS):
        status, _ = await alice.call("DELETE", f"/api/rooms/{room}/members/{bob.id}")
        assert status == 204, i
        status, refused = await bob.call("POST", f"/api/rooms/{room}/join", {})
        assert (status, refused["error"]["code"]) == (404, "not_found"), (i, refused)
        status, found = await alice.call("GET", f"/api/rooms/{room}")
        assert bob.id not in found["room"]["members"], (i, found)
        status, _ = await alice.call("POST", f"/api/rooms/{room}/members", {"user_ids": [bob.id]})
        assert status == 200, i
