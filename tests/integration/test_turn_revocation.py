"""A deactivated user's TURN credential stops working at once (issue 13, item 10), on the
TURN server inside a real `pychat serve`, driven by aioice as a browser's ICE agent would."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from tests.client import Client
from tests.conftest import USER_PASSWORD
from tests.rtc.serve import start_turn_serve
from tests.server import ADMIN_PASSWORD, Server

aioice_turn = pytest.importorskip("aioice.turn", reason="aioice is not installed")
aioice_stun = pytest.importorskip("aioice.stun", reason="aioice is not installed")

WAIT = 10.0


class Receiver(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.refused = asyncio.Event()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        pass

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable: nothing listens on that address any more.
        if isinstance(exc, ConnectionRefusedError):
            self.refused.set()


@pytest.fixture(scope="module")
def turn_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, int]]:
    server, port = start_turn_serve(tmp_path_factory.mktemp("revoke") / "data")
    yield server, port
    server.stop()


async def allocate(port: int, creds: dict[str, Any]) -> tuple[Any, tuple[str, int]]:
    turn, _ = await asyncio.wait_for(
        aioice_turn.create_turn_endpoint(
            Receiver, ("127.0.0.1", port), creds["username"], creds["credential"]
        ),
        WAIT,
    )
    return turn, turn.get_extra_info("sockname")


async def closed(address: tuple[str, int]) -> bool:
    """Whether a UDP datagram sent to `address` is refused (its socket was closed)."""
    loop = asyncio.get_running_loop()
    transport, probe = await loop.create_datagram_endpoint(Receiver, remote_addr=address)
    try:
        for _ in range(20):  # a datagram may be lost: send again until the refusal comes
            transport.sendto(b"anyone there?")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(probe.refused.wait(), 0.25)
                return True
        return False
    finally:
        transport.close()


async def test_a_deactivated_users_turn_credential_is_refused_and_its_relay_ended(
    turn_server: tuple[Server, int],
) -> None:
    server, port = turn_server
    admin = await Client(server.url).login("admin", ADMIN_PASSWORD)
    user = Client(server.url)
    try:
        await admin.post("/api/admin/users", {"username": "leaver", "password": USER_PASSWORD}, 201)
        await user.login("leaver", USER_PASSWORD)
        creds = await user.get("/api/turn")
        turn, relayed = await allocate(port, creds)  # works while the account is active

        status, _ = await admin.call("PATCH", f"/api/admin/users/{user.id}", {"deactivated": True})
        assert status == 200
        assert await closed(relayed), "the live relay of a deactivated user is closed"
        with pytest.raises(aioice_stun.TransactionFailed, match="401"):
            await allocate(port, creds)  # the credential had hours left: refused anyway
        with contextlib.suppress(Exception):
            turn.close()

        status, _ = await admin.call("PATCH", f"/api/admin/users/{user.id}", {"deactivated": False})
        assert status == 200
        again, _ = await allocate(port, creds)  # reactivated: the same credential works
        again.close()
    finally:
        await user.close()
        await admin.close()
