"""Voice and video recordings are rewritten on upload so every browser can play and seek
them: WebM with a Duration and Cues, the media's own length in `duration_ms`, and a damaged
file refused with a clear error rather than stored to fail in the player."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import av

from tests.client import Client
from tests.conftest import UserFactory
from tests.integration.uploading import (
    admin_of,
    fetch,
    send_upload,
    stored_blobs,
    temp_files,
    upload,
    webm_like,
)
from tests.recordings import media_facts, recording
from tests.server import Server


async def served(client: Client, sent: dict[str, Any]) -> bytes:
    status, body, headers = await fetch(client, sent["url"])
    assert status == 200, status
    assert headers["Content-Type"] == sent["mime"]
    return body


async def test_a_recording_without_duration_or_cues_is_stored_with_both(
    make_user: UserFactory,
) -> None:
    alice = await make_user("alice")
    voice = recording(5)
    assert media_facts(voice) == (None, False)  # as Firefox's MediaRecorder writes it
    # The recorder's stop time says 7 s (Firefox's came late); the media says 5.
    sent = await upload(
        alice, voice, name="Voice message.webm", content_type="audio/webm", duration_ms=7000
    )
    assert sent["mime"] == "audio/webm" and 4_900 <= sent["duration_ms"] <= 5_100, sent
    body = await served(alice, sent)
    seconds, cues = media_facts(body)
    assert cues and seconds is not None and abs(seconds * 1000 - sent["duration_ms"]) < 2
    assert sent["size"] == len(body)
    # Seeking to the middle lands there: the Cues are right.
    with av.open(io.BytesIO(body), "r") as media:
        stream = media.streams.audio[0]
        media.seek(2_500_000)
        packet = next(p for p in media.demux(stream) if p.pts is not None)
        assert packet.pts is not None and packet.time_base is not None
        assert 1.4 < float(packet.pts * packet.time_base) <= 2.5  # a cue each second

    clip = await upload(
        alice, recording(2, video=True), name="clip.webm", content_type="video/webm"
    )
    assert clip["mime"] == "video/webm" and 1_900 <= clip["duration_ms"] <= 2_100, clip
    seconds, cues = media_facts(await served(alice, clip))
    assert cues and seconds is not None and 1.9 < seconds < 2.1
    with av.open(io.BytesIO(await served(alice, clip)), "r") as media:
        assert [s.type for s in media.streams] == ["audio", "video"]


async def test_an_ogg_recording_becomes_webm(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    sent = await upload(
        alice, recording(3, container="ogg"), name="note.ogg", content_type="audio/ogg"
    )
    assert sent["mime"] == "audio/webm" and sent["name"] == "note.webm", sent
    assert 2_900 <= sent["duration_ms"] <= 3_100
    seconds, cues = media_facts(await served(alice, sent))
    assert cues and seconds is not None and 2.9 < seconds < 3.1


async def test_a_recording_cut_short_keeps_what_was_recorded(make_user: UserFactory) -> None:
    # A tab closed while the recorder was writing: the end is missing.
    alice = await make_user("alice")
    whole = recording(4)
    sent = await upload(
        alice,
        whole[: len(whole) // 2],
        name="cut.webm",
        content_type="audio/webm",
        duration_ms=4000,
    )
    assert 1_000 < sent["duration_ms"] < 3_000, sent
    seconds, cues = media_facts(await served(alice, sent))
    assert cues and seconds is not None and abs(seconds * 1000 - sent["duration_ms"]) < 2


async def test_a_damaged_recording_is_refused_with_a_clear_error(
    make_server: Callable[..., Server],
) -> None:
    srv = make_server()
    admin = await admin_of(srv)
    try:
        hostile = [
            (webm_like(50_000), "audio/webm", "voice.webm"),  # EBML magic, then noise
            (b"OggS" + bytes(range(256)) * 100, "audio/ogg", "voice.ogg"),
            (recording(1)[:200], "audio/webm", "head-only.webm"),  # a header, no packets
        ]
        for data, mime, name in hostile:
            status, body = await send_upload(admin, data, name=name, content_type=mime)
            assert status == 400, (name, status, body)
            assert body["error"] == {
                "code": "bad_request",
                "message": "This recording could not be read; it may be damaged.",
            }
        # Nothing of them stays, and the server carries on.
        assert stored_blobs(srv) == [] and temp_files(srv) == []
        sent = await upload(admin, recording(1), name="fine.webm", content_type="audio/webm")
        assert sent["mime"] == "audio/webm"
    finally:
        await admin.close()


async def test_media_webm_cannot_carry_is_kept_as_uploaded(make_user: UserFactory) -> None:
    # Someone's Matroska file with PCM sound: not a recording of ours, stored as it came.
    alice = await make_user("alice")
    buf = io.BytesIO()
    with av.open(buf, "w", format="matroska") as out:
        stream = out.add_stream("pcm_s16le", rate=8000, layout="mono")
        frame = av.AudioFrame(format="s16", layout="mono", samples=800)
        frame.planes[0].update(bytes(1600))
        frame.sample_rate = 8000
        for i in range(3):
            frame.pts = i * 800
            for packet in stream.encode(frame):
                out.mux(packet)
    data = buf.getvalue()
    sent = await upload(alice, data, name="pcm.mkv", content_type="audio/webm", duration_ms=300)
    assert sent["duration_ms"] == 300 and sent["size"] == len(data)
    assert (await fetch(alice, sent["url"]))[1] == data
