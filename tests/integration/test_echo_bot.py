"""The "test call": a user calls the echo bot through the real server and gets their own
picture and voice back, relayed through the server's own TURN (loopback has no host
candidates aioice will use, so this also proves the bot's TURN setup)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from av import AudioFrame, VideoFrame

from tests.client import Client, Socket
from tests.conftest import USER_PASSWORD
from tests.rtc.media import COLOUR, TONE_HZ, ColourTrack, ToneTrack, mean_yuv, tone_level
from tests.rtc.peers import relay_config
from tests.rtc.serve import start_turn_serve
from tests.server import ADMIN_PASSWORD, Server

WAIT = 45.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    started, _ = start_turn_serve(tmp_path_factory.mktemp("echo") / "data")
    yield started
    started.stop()


@pytest.fixture
async def caller(server: Server) -> AsyncIterator[Client]:
    admin = await Client(server.url).login("admin", ADMIN_PASSWORD)
    name = f"c{time.monotonic_ns() % 10**9}"
    await admin.post("/api/admin/users", {"username": name, "password": USER_PASSWORD}, expect=201)
    await admin.close()
    client = await Client(server.url).login(name, USER_PASSWORD)
    yield client
    await client.close()


async def _signal_from_bot(sock: Socket, kind: str) -> dict[str, Any]:
    return await sock.wait_for(
        lambda f: f.get("type") == "rtc.signal" and f["data"].get("kind") == kind, timeout=WAIT
    )


async def test_the_echo_bot_sends_my_picture_and_voice_back(server: Server, caller: Client) -> None:
    room = (await caller.post("/api/test-call"))["room"]
    assert room["kind"] == "direct" and len(room["members"]) == 2
    assert (await caller.post("/api/test-call"))["room"]["id"] == room["id"]  # the same room
    credentials = await caller.get("/api/turn")
    sock = await caller.connect()
    joined = await sock.ok({"type": "rtc.call.join", "room": room["id"], "audio": True,
                            "video": True})  # fmt: skip
    call = joined["call"]
    echo_user = next(m for m in room["members"] if m != caller.id)
    assert echo_user in call["ringing"]

    offer = await _signal_from_bot(sock, "offer")
    assert offer["user"] == echo_user and offer["data"]["call"] == call["id"]
    udp = next(u for u in credentials["urls"] if u.endswith("transport=udp"))
    pc = RTCPeerConnection(relay_config(credentials, udp))
    video: asyncio.Queue[VideoFrame] = asyncio.Queue()
    audio: asyncio.Queue[AudioFrame] = asyncio.Queue()

    async def pump(track: MediaStreamTrack, into: asyncio.Queue[Any]) -> None:
        while True:
            into.put_nowait(await track.recv())

    tasks: list[asyncio.Task[None]] = []

    @pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        tasks.append(asyncio.create_task(pump(track, video if track.kind == "video" else audio)))

    try:
        await pc.setRemoteDescription(RTCSessionDescription(offer["data"]["sdp"], "offer"))
        pc.addTrack(ColourTrack())
        pc.addTrack(ToneTrack())
        await pc.setLocalDescription(await pc.createAnswer())
        answer = {"call": call["id"], "kind": "answer", "sdp": pc.localDescription.sdp}
        await sock.ok({"type": "rtc.signal", "room": room["id"], "to": offer["from"],
                       "data": answer})  # fmt: skip

        # The picture comes back in our colour (two VP8 round trips blur it a little).
        async def our_colour() -> tuple[float, float, float]:
            while True:
                seen = mean_yuv(await video.get())
                if all(abs(s - c) < 20 for s, c in zip(seen, COLOUR, strict=True)):
                    return seen

        await asyncio.wait_for(our_colour(), WAIT)

        # And the voice: our tone, not silence (Opus keeps its pitch).
        async def our_tone() -> tuple[float, float]:
            while True:
                rms, crossings = tone_level(await audio.get())
                if rms > 1000 and abs(crossings / 2 - TONE_HZ) < 60:
                    return rms, crossings

        await asyncio.wait_for(our_tone(), WAIT)
        ended = await sock.wait_for(
            lambda f: f.get("type") == "rtc.call" and len(f["call"]["participants"]) == 2,
            timeout=WAIT,
        )
        assert {p["user"] for p in ended["call"]["participants"]} == {caller.id, echo_user}

        # Hanging up ends the call: the bot does not stay behind alone.
        await sock.ok({"type": "rtc.call.leave", "room": room["id"]})
        await sock.wait_for(
            lambda f: f.get("type") == "rtc.call" and f["call"] is None, timeout=WAIT
        )
    finally:
        for task in tasks:
            task.cancel()
        await pc.close()
    assert "echo bot step failed" not in server.log()
    assert "Traceback" not in server.log()


async def test_a_test_call_needs_a_signed_in_user(server: Server) -> None:
    anonymous = Client(server.url)
    status, body = await anonymous.call("POST", "/api/test-call", {})
    await anonymous.close()
    assert status == 401 and body["error"]["code"] == "unauthorized"
