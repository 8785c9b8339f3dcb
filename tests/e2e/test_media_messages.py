"""Voice and video messages, recorded in the composer from Chromium's fake microphone and
camera, sent, and played in the other person's window; Firefox-like recordings (no Duration,
no Cues) that play and seek; a file the browser cannot play says so."""

from __future__ import annotations

from playwright.async_api import Locator, Page, expect

from tests.conftest import UserFactory, new_room
from tests.e2e.conftest import ContextFactory, screenshot_path
from tests.e2e.helpers import SLOW, open_room, room_list
from tests.integration.uploading import upload
from tests.recordings import recording

# The time must move from the start, not sit at the end.
PLAYING = """(el) => Number.isFinite(el.duration) && el.duration > 0 && !el.paused && !el.seeking
  && el.currentTime > 0.5 && el.currentTime < el.duration"""
LEVEL_MOVED = "(el) => Number(el.getAttribute('aria-valuenow')) > 0"
# The length known from the file's header, before anything plays: MediaRecorder's WebM says
# Infinity here until the server remuxes it.
KNOWN_LENGTH = "(el) => el.readyState >= 1 && Number.isFinite(el.duration) && el.duration > 0"
SEEK_TO_MIDDLE = """(el) => new Promise((done, fail) => {
  const middle = el.duration / 2
  el.addEventListener('seeked', () => done([middle, el.currentTime]), { once: true })
  const failed = () => fail(new Error('media error ' + el.error?.code))
  el.addEventListener('error', failed, { once: true })
  el.currentTime = middle
})"""


async def record(page: Page, kind: str, seconds: int) -> None:
    """Records about `seconds` seconds (the timer shows them), previews, sends."""
    room = page.get_by_test_id("room-view")
    await room.get_by_test_id(f"composer-record-{kind}").click()
    recorder = room.get_by_test_id("recorder")
    await expect(recorder).to_have_attribute("data-state", "recording", timeout=SLOW)
    # The fake microphone beeps: the level meter moves.
    level = await recorder.get_by_test_id("recorder-level").element_handle()
    await page.wait_for_function(LEVEL_MOVED, arg=level, timeout=SLOW)
    await expect(recorder.get_by_test_id("recorder-timer")).to_have_text(
        f"0:0{seconds}", timeout=SLOW
    )
    await page.screenshot(path=screenshot_path(f"media-recording-{kind}"))
    await recorder.get_by_test_id("recorder-stop").click()
    preview = recorder.get_by_test_id("recorder-preview")
    await expect(preview).to_be_visible()
    await recorder.get_by_test_id("recorder-send").click()
    await expect(recorder).to_have_count(0)


async def seeks(page: Page, player: Locator) -> float:
    """The duration `player` knows before playing, once a seek to its middle landed there."""
    handle = await player.element_handle()
    await page.wait_for_function(KNOWN_LENGTH, arg=handle, timeout=SLOW)
    middle, at = await player.evaluate(SEEK_TO_MIDDLE)
    assert abs(at - middle) < 0.1, (middle, at)
    await player.evaluate("(el) => { el.currentTime = 0 }")
    return float(await player.evaluate("(el) => el.duration"))


async def plays(page: Page, player: Locator) -> float:
    """Plays `player` and returns its duration once its time has moved."""
    handle = await player.element_handle()
    await player.evaluate("(el) => { void el.play() }")
    await page.wait_for_function(PLAYING, arg=handle, timeout=SLOW)
    return float(await player.evaluate("(el) => el.duration"))


async def test_voice_and_video_messages_are_recorded_sent_and_played(
    open_as: ContextFactory, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    rid = (await new_room(alice, bob, name="voice"))["id"]
    _, alice_page = await open_as(alice)
    _, bob_page = await open_as(bob)
    await open_room(alice_page, rid)
    await open_room(bob_page, rid)

    # Cancelled while recording: nothing is sent.
    room = alice_page.get_by_test_id("room-view")
    await room.get_by_test_id("composer-record-voice").click()
    recorder = room.get_by_test_id("recorder")
    await expect(recorder).to_have_attribute("data-state", "recording", timeout=SLOW)
    await recorder.get_by_test_id("recorder-cancel").click()
    await expect(recorder).to_have_count(0)

    await record(alice_page, "voice", 3)
    audio = room_list(bob_page).get_by_test_id("audio-player")
    await expect(audio).to_have_count(1, timeout=SLOW)
    assert 2.5 < await seeks(bob_page, audio) < 6
    audio_seconds = await plays(bob_page, audio)
    assert 2.5 < audio_seconds < 6, audio_seconds

    await record(alice_page, "video", 2)
    video = room_list(bob_page).get_by_test_id("video-player")
    await expect(video).to_have_count(1, timeout=SLOW)
    assert 1.5 < await seeks(bob_page, video) < 5
    video_seconds = await plays(bob_page, video)
    assert 1.5 < video_seconds < 5, video_seconds
    frames = await video.evaluate("(el) => [el.videoWidth, el.videoHeight]")
    assert frames[0] > 0 and frames[1] > 0, frames
    await bob_page.screenshot(path=screenshot_path("media-messages"))

    page = await bob.get(f"/api/rooms/{rid}/messages")
    files = [m["attachments"] for m in page["messages"]]
    assert [[a["mime"] for a in f] for f in files] == [["audio/webm"], ["video/webm"]]
    voice, clip = files[0][0], files[1][0]
    assert 2_900 < voice["duration_ms"] < 6_000, voice
    assert 1_900 < clip["duration_ms"] < 5_000, clip
    assert voice["name"].startswith("Voice message ") and clip["name"].endswith(".webm")
    # The caption gives the length the server measured in the file, as the player has it.
    caption = room_list(bob_page).get_by_test_id("audio-attachment").locator("figcaption")
    await expect(caption).to_contain_text(f" · 0:0{int(voice['duration_ms'] / 1000 + 0.5)} · ")
    assert abs(voice["duration_ms"] / 1000 - audio_seconds) < 0.05, (voice, audio_seconds)


async def test_a_firefox_recording_plays_and_seeks_and_an_unplayable_file_says_so(
    open_as: ContextFactory, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    rid = (await new_room(alice, bob, name="firefox"))["id"]
    _, bob_page = await open_as(bob)
    await open_room(bob_page, rid)
    sock = await alice.connect()

    # As Firefox records it (no Duration, no Cues; Chromium failed it with "demuxer seek
    # failed"), and its recorder stopped the clock 2 s late.
    voice = await upload(
        alice, recording(5), name="Voice message.webm", content_type="audio/webm", duration_ms=7000
    )
    await sock.send_message(rid, "", attachments=[voice["id"]])
    audio = room_list(bob_page).get_by_test_id("audio-player")
    await expect(audio).to_have_count(1, timeout=SLOW)
    assert 4.9 < await seeks(bob_page, audio) < 5.1
    assert 4.9 < await plays(bob_page, audio) < 5.1
    caption = room_list(bob_page).get_by_test_id("audio-attachment").locator("figcaption")
    await expect(caption).to_contain_text(" · 0:05 · ")

    # A file that claims to be sound but is not: the player says so and offers the file.
    junk = await upload(alice, b"ID3" + bytes(range(256)) * 20, name="song.mp3")
    assert junk["mime"] == "audio/mpeg"
    await sock.send_message(rid, "", attachments=[junk["id"]])
    broken = room_list(bob_page).get_by_test_id("audio-attachment").nth(1)
    error = broken.get_by_test_id("media-error")
    await expect(error).to_have_text(
        "This recording cannot be played here. Download it", timeout=SLOW
    )
    await expect(error).to_have_attribute("role", "alert")
    link = broken.get_by_test_id("media-download")
    await expect(link).to_have_attribute("href", junk["url"])
    await expect(link).to_have_attribute("download", "song.mp3")
    await expect(broken.get_by_test_id("audio-player")).to_be_hidden()
    await bob_page.screenshot(path=screenshot_path("media-unplayable"))
