"""No connection may send frames without bound, whatever their type."""

from __future__ import annotations

from collections.abc import Callable

from tests.client import Client
from tests.server import ADMIN_PASSWORD, Server


async def test_a_flood_of_frames_is_answered_rate_limited_and_others_carry_on(
    make_server: Callable[..., Server],
) -> None:
    srv = make_server(
        {"PYCHAT_LIMITS_FRAMES_PER_SECOND": "0.01", "PYCHAT_LIMITS_FRAMES_BURST": "5"}
    )
    admin = await Client(srv.url).login("admin", ADMIN_PASSWORD)
    try:
        flooder = await admin.connect()  # hello took the first token
        replies = [await flooder.request({"type": "ping"}) for _ in range(6)]
        codes = [r["ok"] or r["error"]["code"] for r in replies]
        assert codes[:4] == [True] * 4
        assert codes[4:] == ["rate_limited"] * 2, codes
        assert not flooder.closed.is_set(), "the socket stays open"
        # Another connection has its own allowance.
        other = await admin.connect()
        assert (await other.request({"type": "ping"}))["ok"]
    finally:
        await admin.close()
