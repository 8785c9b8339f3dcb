"""One echo call: a peer connection to each of the caller's devices in the call.

The bot joins as the newcomer, so it offers (docs/api/calls.md, "Media negotiation"); a
later offer from the caller (renegotiation, screen sharing) is answered on the same
connection; offer collisions follow perfect negotiation. Every received track goes back
on a sender of its own kind.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, TypeGuard

from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from .media import EchoTrack, parse_candidate

log = logging.getLogger(__name__)

Signal = Callable[[int, dict[str, Any]], None]  # (to conn, data)
PeerCheck = Callable[[str, int], bool]  # may the bot send to this address?
MAX_REMOTE_CANDIDATES = 30
MAX_SDP_CHARS = 60_000
MAX_MEDIA = 6  # m-lines in one offer: camera, microphone, a screen, and room to spare


class EchoPeer:
    """The connection to one remote device."""

    def __init__(
        self,
        conn: int,
        config: RTCConfiguration,
        call_id: int,
        signal: Signal,
        allowed: PeerCheck,
    ) -> None:
        self.conn = conn
        self.call_id = call_id
        self._signal = signal
        self._allowed = allowed
        self._remote_candidates = 0
        self.pc = RTCPeerConnection(config)
        self._echoes: list[EchoTrack] = []
        # Tracks of a new offer arrive before its answer has senders for them.
        self._unechoed: list[MediaStreamTrack] = []
        self.pc.on("track", self._on_track)

    def _echo(self, kind: str) -> None:
        echo = EchoTrack(kind)
        self._echoes.append(echo)
        self.pc.addTrack(echo)
        for track in self._unechoed:
            if track.kind == kind:
                self._unechoed.remove(track)
                echo.attach(track)
                return

    def _on_track(self, track: MediaStreamTrack) -> None:
        for echo in self._echoes:
            if echo.kind == track.kind and not echo.attached:
                echo.attach(track)
                return
        self._unechoed.append(track)

    def _send(self, kind: str, **data: Any) -> None:
        self._signal(self.conn, {"call": self.call_id, "kind": kind, **data})

    async def offer(self) -> None:
        self._echo("audio")
        self._echo("video")
        await self.pc.setLocalDescription(await self.pc.createOffer())
        self._send("offer", sdp=self.pc.localDescription.sdp)  # non-trickle: has candidates

    async def on_offer(self, sdp: str) -> None:
        sdp = self._only_allowed(sdp)
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        for transceiver in self.pc.getTransceivers():
            sending: MediaStreamTrack | None = transceiver.sender.track  # None: typed wrongly
            if sending is None and transceiver.kind in ("audio", "video"):
                self._echo(transceiver.kind)
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        self._send("answer", sdp=self.pc.localDescription.sdp)

    async def on_answer(self, sdp: str) -> None:
        if self.pc.signalingState == "have-local-offer":
            sdp = self._only_allowed(sdp)
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))

    async def on_candidate(self, init: Any) -> None:
        candidate = parse_candidate(init)
        if candidate is None or self.pc.remoteDescription is None:
            return
        if not self._may_check(candidate.ip, candidate.port):
            return
        await self.pc.addIceCandidate(candidate)

    def _may_check(self, host: str, port: int) -> bool:
        """The bot's ICE checks go where a caller's candidates say: only to addresses the
        TURN peer policy allows (or mDNS names), and only so many."""
        if self._remote_candidates >= MAX_REMOTE_CANDIDATES:
            return False
        if not (host.endswith(".local") or self._allowed(host, port)):
            return False
        self._remote_candidates += 1
        return True

    def _only_allowed(self, sdp: str) -> str:
        """The description without candidate lines the bot may not check."""
        kept = []
        for line in sdp.split("\r\n"):
            if line.startswith("a=candidate:"):
                bits = line.split()
                if (
                    len(bits) < 6
                    or not bits[5].isdigit()
                    or not self._may_check(bits[4], int(bits[5]))
                ):
                    continue
            kept.append(line)
        return "\r\n".join(kept)

    async def close(self) -> None:
        for echo in self._echoes:
            echo.stop()
        await self.pc.close()


class EchoSession:
    """The bot's part in one room's call."""

    def __init__(
        self,
        room: int,
        call_id: int,
        own_conn: int,
        config: RTCConfiguration,
        signal: Signal,
        allowed: PeerCheck,
    ) -> None:
        self.room = room
        self.call_id = call_id
        self.own_conn = own_conn
        self._allowed = allowed
        self._config = config
        self._signal = signal
        self.peers: dict[int, EchoPeer] = {}
        self._lock = asyncio.Lock()  # one negotiation step at a time, in arrival order

    async def connect(self, conn: int) -> None:
        async with self._lock:
            await self._replace(conn).offer()

    async def on_signal(self, conn: int, data: dict[str, Any], *, polite: bool) -> None:
        """`polite`: this side yields when both offered (the app's rule: the higher user id
        is polite, so roles survive a reconnect that changes socket ids)."""
        kind = data.get("kind")
        sdp = data.get("sdp")
        async with self._lock:
            peer = self.peers.get(conn)
            if kind == "offer" and _acceptable(sdp):
                if peer is not None and peer.pc.signalingState != "stable":
                    # Both offered. The impolite side ignores the other offer; aiortc
                    # cannot roll back, so a polite bot answers from a fresh connection
                    # (the other side never applied our offer).
                    if not polite:
                        return
                    peer = None
                if peer is None:
                    peer = self._replace(conn)
                await peer.on_offer(sdp)
            elif peer is None:
                return
            elif kind == "answer" and _acceptable(sdp):
                await peer.on_answer(sdp)
            elif kind == "candidate":
                await peer.on_candidate(data.get("candidate"))
            elif kind == "restart":
                await self._replace(conn).offer()  # aiortc cannot restart ICE: start anew

    def _replace(self, conn: int) -> EchoPeer:
        old = self.peers.pop(conn, None)
        if old is not None:
            asyncio.get_running_loop().create_task(old.close())
        peer = EchoPeer(conn, self._config, self.call_id, self._signal, self._allowed)
        self.peers[conn] = peer
        return peer

    async def drop(self, keep: set[int]) -> None:
        """Close the connections to devices no longer in the call."""
        for conn in [c for c in self.peers if c not in keep]:
            await self.peers.pop(conn).close()

    async def close(self) -> None:
        await self.drop(set())


def _acceptable(sdp: Any) -> TypeGuard[str]:
    """Bounded work per peer: a sane size and a few media sections (each one echoed)."""
    return isinstance(sdp, str) and len(sdp) <= MAX_SDP_CHARS and sdp.count("\nm=") <= MAX_MEDIA
