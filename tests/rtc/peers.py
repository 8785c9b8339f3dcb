"""aiortc peers for the relay and echo-bot tests (relay-only ICE through our TURN)."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.rtcconfiguration import RTCIceTransportPolicy

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
