"""aiortc pieces of the echo: the forwarding track, ICE servers, trickled candidates."""

from __future__ import annotations

import asyncio
from typing import Any

from aiortc import MediaStreamTrack, RTCConfiguration, RTCIceCandidate, RTCIceServer
from aiortc.mediastreams import MediaStreamError
from aiortc.sdp import candidate_from_sdp
from av.frame import Frame
from av.packet import Packet


class EchoTrack(MediaStreamTrack):
    """Sends back the frames of a received track once one is attached (nothing before:
    the bot offers its senders before the caller's tracks exist)."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self._source: MediaStreamTrack | None = None
        self._attached = asyncio.Event()

    @property
    def attached(self) -> bool:
        return self._source is not None

    def attach(self, source: MediaStreamTrack) -> None:
        self._source = source
        self._attached.set()

    async def recv(self) -> Frame | Packet:  # type: ignore[type-arg]
        await self._attached.wait()
        assert self._source is not None
        if self._source.readyState != "live":
            self.stop()
            raise MediaStreamError
        return await self._source.recv()


def ice_configuration(credentials: dict[str, Any]) -> RTCConfiguration:
    """Our own TURN as the ICE server when it runs (aiortc uses the first `turn:` URL);
    host candidates cover the LAN either way."""
    urls = [u for u in credentials["urls"] if u.startswith("turn:")]
    if not urls:
        return RTCConfiguration(iceServers=[])
    server = RTCIceServer(
        urls=urls[0], username=credentials["username"], credential=credentials["credential"]
    )
    return RTCConfiguration(iceServers=[server])


def parse_candidate(init: Any) -> RTCIceCandidate | None:
    """A browser's `RTCIceCandidateInit` as aiortc's candidate; None for the end marker
    or anything malformed (a peer's junk must not stop the bot)."""
    if not isinstance(init, dict):
        return None
    text = init.get("candidate")
    if not isinstance(text, str) or not text.startswith("candidate:") or len(text) > 1024:
        return None
    try:
        candidate = candidate_from_sdp(text.split(":", 1)[1])
    except (AssertionError, ValueError, IndexError):
        return None
    mid, index = init.get("sdpMid"), init.get("sdpMLineIndex")
    candidate.sdpMid = mid if isinstance(mid, str) else None
    candidate.sdpMLineIndex = index if isinstance(index, int) else None
    return candidate
