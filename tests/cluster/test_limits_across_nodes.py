"""Per-account rate limits held by every node together: someone whose requests the load
balancer spreads over the nodes gets one budget, not one per node."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.cluster.serving import NodeFactory, make_people
from tests.conftest import new_room
from tests.server import Server

BURST = 6
SLOW = {"PYCHAT_LIMITS_SEND_PER_SECOND": "0.01", "PYCHAT_LIMITS_SEND_BURST": str(BURST)}


async def test_sending_spread_over_two_nodes_stops_at_one_budget(
    nodes: NodeFactory, people: Callable[[Server, str], Any]
) -> None:
    first, second = nodes(**SLOW), nodes(**SLOW)
    alice_name, bob_name = await make_people(first, "alice", "bob")
    here, there = await people(first, alice_name), await people(second, alice_name)
    bob = await people(second, bob_name)
    room = (await new_room(here, bob))["id"]
    sockets = [await here.connect(), await there.connect()]

    sent = [await sockets[i % 2].send_message(room, f"message {i}") for i in range(BURST)]
    assert len({m["id"] for m in sent}) == BURST
    for sock in sockets:  # each node on its own would have let as many again through
        error = await sock.error(
            {"type": "message.send", "room": room, "body": "one too many", "client_id": "x"}
        )
        assert error["code"] == "rate_limited", error
        assert "slow down" in error["message"]
    b = await bob.connect()
    # Bob has his own budget, whichever node he is on.
    assert (await b.send_message(room, "mine"))["body"] == "mine"
