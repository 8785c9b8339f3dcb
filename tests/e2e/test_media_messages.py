"""Voice and video messages, recorded in the composer from Chromium's fake microphone and
camera, sent, and played in the other person's window."""

from __future__ import annotations

from playwright.async_api import Locator, Page, expect

from tests.conftest import UserFactory, new_room
from tests.e2e.conftest import ContextFactory, screenshot_path
from tests.e2e.helpers import SLOW, open_room, room_list

# Recorded WebM has no duration until the player looks for it (MediaPlayer does, on the
# first play): then the time must move from the start, not sit at the end.
PLAYING = """(el) => Number.isFinite(el.duration) && el.duration > 0 && !el.paused && !el.seeking
  && el.currentTime > 0.5 && el.currentTime < el.duration"""
LEVEL_MOVED = "(el) => Number(el.getAttribute('aria-valuenow')) > 0"


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
    audio_seconds = await plays(bob_page, audio)
    assert 2.5 < audio_seconds < 6, audio_seconds

    await record(alice_page, "video", 2)
    video = room_list(bob_page).get_by_test_id("video-player")
    await expect(video).to_have_count(1, timeout=SLOW)
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
