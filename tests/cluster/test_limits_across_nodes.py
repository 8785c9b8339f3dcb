"""Per-account rate limits held by every node together: someone whose requests the load
balancer spreads over the nodes gets one budget, not one per node."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from appliance.state.services import FORGOT_PER_IP, TEST_CALLS, TURN_REQUESTS
from tests.client import Client
from tests.cluster.serving import NodeFactory, make_people
from tests.conftest import new_room
from tests.server import ADMIN_PASSWORD, Server

BURST = 6
# A mail server that is never reached: the reset asks name no account.
MAIL = {"host": "127.0.0.1", "port": 9, "security": "none", "from_address": "chat@office.lan"}
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


async def one_budget(
    both: tuple[Client, Client], method: str, path: str, body: Any, rate: float, burst: int
) -> None:
    """Ask through the two nodes in turn until each has refused once. One budget lets
    through its burst and what refilled meanwhile (a test call's refills one a second, so
    a slow machine sees some); one per node would have let through twice the burst."""
    start, granted, refused = time.monotonic(), 0, set()
    for i in range(4 * burst):
        status, reply = await both[i % 2].call(method, path, body)
        if status == 200:
            granted += 1
            continue
        assert (status, reply["error"]["code"]) == (429, "rate_limited"), path
        refused.add(i % 2)
        if len(refused) == 2:
            break
    refilled = int(rate * (time.monotonic() - start)) + 1
    assert refused == {0, 1}, path
    assert burst <= granted <= burst + refilled, (path, granted, refilled)


async def test_turn_credentials_test_calls_and_reset_asks_stop_at_one_budget(
    nodes: NodeFactory, people: Callable[[Server, str], Any]
) -> None:
    """The HTTP limits too: TURN credentials and test calls per account, "Forgot password?"
    per address, whichever node each request lands on."""
    first, second = nodes(), nodes()
    (alice_name,) = await make_people(first, "alice")
    here, there = await people(first, alice_name), await people(second, alice_name)
    admin = await Client(first.url).login("admin", ADMIN_PASSWORD)
    await admin.call("PATCH", "/api/admin/mail", MAIL)
    await admin.close()
    anonymous = [Client(first.url), Client(second.url)]
    try:
        for path, method, (rate, burst), body in (
            ("/api/turn", "GET", TURN_REQUESTS, None),
            ("/api/test-call", "POST", TEST_CALLS, {}),
        ):
            await one_budget((here, there), method, path, body, rate, burst)
        burst = FORGOT_PER_IP[1]
        for i in range(burst):  # nobody has these addresses: no mail is sent
            ask = {"email": f"nobody{i}@office.lan"}
            status, _ = await anonymous[i % 2].call("POST", "/api/auth/forgot", ask)
            assert status == 202
        for client in anonymous:
            ask = {"email": "one.more@office.lan"}
            status, error = await client.call("POST", "/api/auth/forgot", ask)
            assert (status, error["error"]["code"]) == (429, "rate_limited")
    finally:
        for client in anonymous:
            await client.close()
