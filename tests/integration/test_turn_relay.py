"""Relay-only WebRTC through the TURN server inside `pychat serve`.

Two aiortc peers take their ICE server from `GET /api/turn` exactly as the web app does,
allow only relay candidates, and exchange data-channel messages over UDP and over TCP.
coturn's reference client then drives the same server with the same REST credentials.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiortc import RTCPeerConnection

from tests.client import Client
from tests.rtc.peers import candidates, chat_over_relay, relay_config
from tests.rtc.ports import free_port
from tests.rtc.procs import stop
from tests.rtc.serve import RELAY_PORTS, start_turn_serve
from tests.server import ADMIN_PASSWORD, Server

WAIT = 30.0


@pytest.fixture(scope="module")
def turn_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, int]]:
    server, port = start_turn_serve(tmp_path_factory.mktemp("relay") / "data")
    yield server, port
    server.stop()


@pytest.fixture
async def credentials(turn_server: tuple[Server, int]) -> AsyncIterator[dict[str, Any]]:
    server, _ = turn_server
    client = await Client(server.url).login("admin", ADMIN_PASSWORD)
    yield await client.get("/api/turn")
    await client.close()


def _url(credentials: dict[str, Any], transport: str) -> str:
    return next(u for u in credentials["urls"] if u.endswith(f"transport={transport}"))


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_relay_only_peers_exchange_messages(
    credentials: dict[str, Any], transport: str
) -> None:
    config = relay_config(credentials, _url(credentials, transport))
    echoed = await chat_over_relay(config, config, RELAY_PORTS)
    assert echoed == [f"echo: hello {i}" for i in range(5)]


async def test_a_wrong_credential_gives_no_relay_candidate(credentials: dict[str, Any]) -> None:
    wrong = {**credentials, "credential": "bm90IHRoZSByaWdodCBvbmU="}
    pc = RTCPeerConnection(relay_config(wrong, _url(credentials, "udp")))
    try:
        pc.createDataChannel("chat")
        await asyncio.wait_for(pc.setLocalDescription(await pc.createOffer()), WAIT)
        assert candidates(pc.localDescription.sdp) == []
    finally:
        await pc.close()


def _uclient(port: int, peer: int, credentials: dict[str, Any], flags: list[str]) -> list[str]:
    return [
        "timeout", "60", "turnutils_uclient", *flags, "-u", credentials["username"],
        "-w", credentials["credential"], "-e", "127.0.0.1", "-r", str(peer), "-p", str(port),
        "-c", "-n", "50", "-m", "2", "-l", "1000", "-z", "5", "127.0.0.1",
    ]  # fmt: skip


TOOLS = ("turnutils_uclient", "turnutils_peer", "timeout")


@pytest.mark.skipif(any(shutil.which(t) is None for t in TOOLS), reason="coturn utilities missing")
def test_coturn_client_relays_through_the_built_in_server(
    turn_server: tuple[Server, int], credentials: dict[str, Any]
) -> None:
    _, port = turn_server
    peer_port = free_port(span=2)
    peer = subprocess.Popen(
        ["timeout", "120", "turnutils_peer", "-L", "127.0.0.1", "-p", str(peer_port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        runs = {
            name: subprocess.Popen(
                _uclient(port, peer_port, credentials, flags),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for name, flags in {"udp": [], "udp-send": ["-s"], "tcp": ["-t"]}.items()
        }
        for name, run in runs.items():
            out, _ = run.communicate(timeout=90)
            assert run.returncode == 0, f"{name}:\n{out[-2000:]}"
            assert "Total lost packets 0 (0.000000%)" in out, f"{name}:\n{out[-2000:]}"
    finally:
        stop(peer)
