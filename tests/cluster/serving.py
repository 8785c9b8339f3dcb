"""People on the nodes of one cluster (the `nodes` and `people` fixtures: conftest.py)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from tests.client import Client
from tests.conftest import USER_PASSWORD, new_room
from tests.server import ADMIN_PASSWORD, Server

Frame = dict[str, Any]
NodeFactory = Callable[..., Server]  # the `nodes` fixture (conftest.py)


async def make_people(node: Server, *prefixes: str) -> list[str]:
    admin = await Client(node.url).login("admin", ADMIN_PASSWORD)
    try:
        names = [f"{p}{uuid.uuid4().hex[:6]}" for p in prefixes]
        for name in names:
            await admin.post(
                "/api/admin/users", {"username": name, "password": USER_PASSWORD}, expect=201
            )
        return names
    finally:
        await admin.close()


async def two_nodes_apart(
    nodes: NodeFactory, people: Callable[[Server, str], Any], room_name: str
) -> tuple[Server, Server, Client, Client, dict[str, Any]]:
    """Two nodes; alice on the first, bob on the second, and a room of theirs."""
    a_node, b_node = nodes(), nodes()
    alice_name, bob_name = await make_people(a_node, "alice", "bob")
    alice, bob = await people(a_node, alice_name), await people(b_node, bob_name)
    return a_node, b_node, alice, bob, await new_room(alice, bob, name=room_name)
