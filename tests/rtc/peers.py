"""aiortc peers for the relay and echo-bot tests (relay-only ICE through our TURN)."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from aiortc import (
    RTCConfiguration,
    RTCDataChannel,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.rtcconfiguration import RTCIceTransportPolicy

WAIT_S = 30.0
CANDIDATE = re.compile(r"^a=candidate:\S+ \d+ (\w+) \d+ (\S+) (\d+) typ (\w+)", re.MULTILINE)


def relay_config(credentials: dict[str, Any], url: str) -> RTCConfiguration:
    """Relay-only ICE through one TURN URL (aiortc uses only the first usable one)."""
    server = RTCIceServer(
        urls=url, username=credentials["username"], credential=credentials["credential"]
    )
    return RTCConfiguration(iceServers=[server], iceTransportPolicy=RTCIceTransportPolicy.RELAY)


def candidates(sdp: str) -> list[tuple[str, str, int, str]]:
    """(transport, address, port, type) of every candidate in an SDP."""
    return [(t.lower(), addr, int(port), kind) for t, addr, port, kind in CANDIDATE.findall(sdp)]


async def offer_answer(a: RTCPeerConnection, b: RTCPeerConnection, timeout: float = 30) -> None:
    """Non-trickle negotiation: aiortc's descriptions carry every gathered candidate."""

    async def run() -> None:
        await a.setLocalDescription(await a.createOffer())
        await b.setRemoteDescription(_copy(a.localDescription))
        await b.setLocalDescription(await b.createAnswer())
        await a.setRemoteDescription(_copy(b.localDescription))

    await asyncio.wait_for(run(), timeout)


def _copy(desc: RTCSessionDescription) -> RTCSessionDescription:
    return RTCSessionDescription(sdp=desc.sdp, type=desc.type)


async def chat_over_relay(
    config_a: RTCConfiguration, config_b: RTCConfiguration, relay_ports: tuple[int, int]
) -> list[str]:
    """Open a data channel between two relay-only peers; return what came back."""
    a, b = RTCPeerConnection(config_a), RTCPeerConnection(config_b)
    try:
        channel = a.createDataChannel("chat")
        opened = asyncio.Event()
        echoed: asyncio.Queue[str] = asyncio.Queue()
        channel.on("open", opened.set)
        channel.on("message", echoed.put_nowait)

        @b.on("datachannel")
        def on_channel(remote: RTCDataChannel) -> None:
            remote.on("message", lambda text: remote.send(f"echo: {text}"))

        await offer_answer(a, b)
        for pc in (a, b):
            found = candidates(pc.localDescription.sdp)
            assert found, "no relay candidate"
            low, high = relay_ports
            assert all(kind == "relay" and low <= port <= high for _, _, port, kind in found)
        await asyncio.wait_for(opened.wait(), WAIT_S)
        for i in range(5):
            channel.send(f"hello {i}")
        return [await asyncio.wait_for(echoed.get(), WAIT_S) for _ in range(5)]
    finally:
        await a.close()
        await b.close()
