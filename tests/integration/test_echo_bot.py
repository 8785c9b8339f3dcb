"""The "test call": a user calls the echo bot through the real server and gets their own
picture and voice back, relayed through the server's own TURN (loopback has no host
candidates aioice will use, so this also proves the bot's TURN setup)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from av import AudioFrame, VideoFrame
from playwright.async_api import async_playwright

from tests.client import Client, Socket
from tests.conftest import USER_PASSWORD
from tests.e2e.conftest import CHROMIUM, FLAGS, OUR_DISABLED_FEATURES, playwright_disabled_features
from tests.rtc.media import (
    COLOUR,
    SCREEN_COLOUR,
    TONE_HZ,
    ColourTrack,
    ToneTrack,
    mean_yuv,
    tone_level,
)
from tests.rtc.peers import relay_config
from tests.rtc.serve import start_turn_serve
from tests.server import ADMIN_PASSWORD, Server

WAIT = 45.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    started, _ = start_turn_serve(tmp_path_factory.mktemp("echo") / "data")
    yield started
    assert "echo bot step failed" not in started.log()
    assert "Traceback" not in started.log()
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


class EchoCall:
    """The caller's side: a relay-only aiortc peer answering the bot's offer."""

    def __init__(self, sock: Socket, room: dict[str, Any], call: dict[str, Any]) -> None:
        self.sock, self.room, self.call = sock, room, call
        self.pc: RTCPeerConnection | None = None
        self.bot_conn = 0
        self.video: asyncio.Queue[VideoFrame] = asyncio.Queue()
        self.audio: asyncio.Queue[AudioFrame] = asyncio.Queue()
        self.tasks: list[asyncio.Task[None]] = []

    async def answer_bot(self, credentials: dict[str, Any]) -> None:
        offer = await self.signal("offer")
        self.bot_conn = offer["from"]
        udp = next(u for u in credentials["urls"] if u.endswith("transport=udp"))
        self.pc = pc = RTCPeerConnection(relay_config(credentials, udp))
        pc.on("track", self._on_track)
        await pc.setRemoteDescription(RTCSessionDescription(offer["data"]["sdp"], "offer"))
        pc.addTrack(ColourTrack())
        pc.addTrack(ToneTrack())
        await pc.setLocalDescription(await pc.createAnswer())
        await self.send("answer", sdp=pc.localDescription.sdp)

    def _on_track(self, track: MediaStreamTrack) -> None:
        async def pump(into: asyncio.Queue[Any]) -> None:
            while True:
                into.put_nowait(await track.recv())

        self.tasks.append(
            asyncio.create_task(pump(self.video if track.kind == "video" else self.audio))
        )

    async def signal(self, kind: str) -> dict[str, Any]:
        return await self.sock.wait_for(
            lambda f: f.get("type") == "rtc.signal" and f["data"].get("kind") == kind,
            timeout=WAIT,
        )

    async def send(self, kind: str, **data: Any) -> None:
        payload = {"call": self.call["id"], "kind": kind, **data}
        await self.sock.ok({"type": "rtc.signal", "room": self.room["id"], "to": self.bot_conn,
                            "data": payload})  # fmt: skip

    def forget_frames(self) -> None:
        """From now on, only frames that arrive later count."""
        while not self.video.empty():
            self.video.get_nowait()

    async def see(self, colour: tuple[int, int, int]) -> None:
        """Wait for a picture in `colour` (two VP8 round trips blur it a little)."""

        async def find() -> None:
            while not all(
                abs(s - c) < 20
                for s, c in zip(mean_yuv(await self.video.get()), colour, strict=True)
            ):
                pass

        await asyncio.wait_for(find(), WAIT)

    async def hear_tone(self) -> None:
        """Wait for our tone, not silence (Opus keeps its pitch)."""

        async def find() -> None:
            while True:
                rms, crossings = tone_level(await self.audio.get())
                if rms > 1000 and abs(crossings / 2 - TONE_HZ) < 60:
                    return

        await asyncio.wait_for(find(), WAIT)

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        if self.pc is not None:
            await self.pc.close()


async def _call_echo(caller: Client) -> EchoCall:
    room = (await caller.post("/api/test-call"))["room"]
    sock = await caller.connect()
    joined = await sock.ok({"type": "rtc.call.join", "room": room["id"], "audio": True,
                            "video": True})  # fmt: skip
    return EchoCall(sock, room, joined["call"])


async def test_the_echo_bot_sends_my_picture_and_voice_back(caller: Client) -> None:
    first = (await caller.post("/api/test-call"))["room"]
    call = await _call_echo(caller)
    room = call.room
    assert room["id"] == first["id"]  # the same room every time
    assert room["kind"] == "direct" and len(room["members"]) == 2
    echo_user = next(m for m in room["members"] if m != caller.id)
    assert echo_user in call.call["ringing"]
    try:
        await call.answer_bot(await caller.get("/api/turn"))
        await call.see(COLOUR)
        await call.hear_tone()
        both = await call.sock.wait_for(
            lambda f: f.get("type") == "rtc.call" and len(f["call"]["participants"]) == 2,
            timeout=WAIT,
        )
        assert {p["user"] for p in both["call"]["participants"]} == {caller.id, echo_user}

        # Hanging up ends the call: the bot does not stay behind alone.
        await call.sock.ok({"type": "rtc.call.leave", "room": room["id"]})
        await call.sock.wait_for(
            lambda f: f.get("type") == "rtc.call" and f["call"] is None, timeout=WAIT
        )
    finally:
        await call.close()


async def test_a_shared_screen_comes_back_too(caller: Client) -> None:
    call = await _call_echo(caller)
    try:
        await call.answer_bot(await caller.get("/api/turn"))
        await call.see(COLOUR)
        # Sharing the screen renegotiates from the caller's side: the bot answers it.
        assert call.pc is not None
        call.pc.addTrack(ColourTrack(SCREEN_COLOUR))
        await call.pc.setLocalDescription(await call.pc.createOffer())
        await call.send("offer", sdp=call.pc.localDescription.sdp)
        answer = await call.signal("answer")
        await call.pc.setRemoteDescription(RTCSessionDescription(answer["data"]["sdp"], "answer"))
        await call.see(SCREEN_COLOUR)
        await call.see(COLOUR)  # the camera keeps coming back
    finally:
        await call.sock.ok({"type": "rtc.call.leave", "room": call.room["id"]})
        await call.close()


async def test_the_test_call_survives_a_websocket_reconnect(caller: Client) -> None:
    call = await _call_echo(caller)
    try:
        await call.answer_bot(await caller.get("/api/turn"))
        await call.see(COLOUR)
        old_conn = call.sock.hello_reply["data"]["conn"]
        await call.sock.close()  # the network blips; media keeps flowing meanwhile
        call.sock = await caller.connect()
        join = {"type": "rtc.call.join", "room": call.room["id"], "audio": True, "video": True}
        rejoined = await call.sock.ok({**join, "replaces": old_conn})
        assert rejoined["replaced"]  # the same media connection goes on
        call.forget_frames()
        await call.see(COLOUR)
        # Echo now answers the new socket on the old connection: share a screen from it.
        assert call.pc is not None
        call.pc.addTrack(ColourTrack(SCREEN_COLOUR))
        await call.pc.setLocalDescription(await call.pc.createOffer())
        await call.send("offer", sdp=call.pc.localDescription.sdp)
        answer = await call.signal("answer")
        await call.pc.setRemoteDescription(RTCSessionDescription(answer["data"]["sdp"], "answer"))
        await call.see(SCREEN_COLOUR)
    finally:
        await call.sock.ok({"type": "rtc.call.leave", "room": call.room["id"]})
        await call.close()


async def test_echo_is_busy_while_in_another_test_call(server: Server, caller: Client) -> None:
    first = await _call_echo(caller)
    await first.signal("offer")  # Echo answered: it is in this call now
    admin = await Client(server.url).login("admin", ADMIN_PASSWORD)
    try:
        second = await _call_echo(admin)
        echo_user = next(m for m in second.room["members"] if m != admin.id)
        assert echo_user in second.call["busy"] and echo_user not in second.call["ringing"]
        await second.sock.ok({"type": "rtc.call.leave", "room": second.room["id"]})
    finally:
        await first.sock.ok({"type": "rtc.call.leave", "room": first.room["id"]})
        await admin.close()


async def test_a_test_call_ends_by_itself(tmp_path: Path) -> None:
    server, _ = start_turn_serve(tmp_path / "data", env={"PYCHAT_TURN_TEST_CALL_MAX_S": "2"})
    try:
        caller = await Client(server.url).login("admin", ADMIN_PASSWORD)
        call = await _call_echo(caller)
        try:
            await call.answer_bot(await caller.get("/api/turn"))
            await call.see(COLOUR)
            # Echo hangs up on its own: the caller is left alone in the call.
            alone = await call.sock.wait_for(
                lambda f: (
                    f.get("type") == "rtc.call"
                    and f["call"] is not None
                    and [p["user"] for p in f["call"]["participants"]] == [caller.id]
                ),
                timeout=WAIT,
            )
            assert alone["call"]["id"] == call.call["id"]
        finally:
            await call.close()
            await caller.close()
    finally:
        server.stop()


async def test_a_test_call_needs_a_signed_in_user(server: Server) -> None:
    anonymous = Client(server.url)
    status, body = await anonymous.call("POST", "/api/test-call", {})
    await anonymous.close()
    assert status == 401 and body["error"]["code"] == "unauthorized"


async def _chromium_test_call(server: Server, *, restart_ice: bool) -> dict[str, Any]:
    script = (Path(__file__).parents[1] / "rtc" / "chromium_echo_call.js").read_text()
    features = ",".join([*playwright_disabled_features(), *OUR_DISABLED_FEATURES])
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=str(CHROMIUM), args=[*FLAGS, f"--disable-features={features}"]
        )
        try:
            page = await browser.new_page()
            await page.goto(server.url + "/api/turn")  # our origin, for cookies and fetch
            login = {"username": "admin", "password": ADMIN_PASSWORD}
            response = await page.request.post(server.url + "/api/auth/login", data=login)
            assert response.ok
            found: dict[str, Any] = await page.evaluate(script, restart_ice)
            return found
        finally:
            await browser.close()


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium")
async def test_chromium_gets_its_camera_and_microphone_back_relay_only(server: Server) -> None:
    """The real browser against the real bot: Chromium's fake camera and microphone go to
    Echo and come back, Chromium using only our TURN (`iceTransportPolicy: relay`)."""
    found = await _chromium_test_call(server, restart_ice=False)
    assert found["state"] == "connected", found
    assert found["local"] == "relay", found  # through our TURN (the bot may be reached
    # at its relay address or, on a machine with a LAN address, directly from the relay)
    assert found["video"] > 10, found  # frames decoded: our own picture came back
    assert found["audio"] > 48000, found  # a second of our own sound came back
    assert found["energy"] > 0, found  # and it is the beep, not silence


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium")
async def test_an_ice_restart_from_chromium_keeps_the_test_call_going(server: Server) -> None:
    """What the app does when a connection drops: Chromium restarts ICE, Echo answers the
    new offer, and the picture keeps coming."""
    found = await _chromium_test_call(server, restart_ice=True)
    assert found["video"] > 10, found
    assert found["restarted"]["state"] == "connected", found
    assert found["restarted"]["video"] > 30, found
