"""Media across Firefox ESR and Chromium: a video call decoded both ways, and voice messages
recorded in one browser and played in the other (Firefox's fake devices: driver.PREFS)."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.client import Client
from tests.conftest import UserFactory, new_room
from tests.e2e import helpers as chromium
from tests.e2e.conftest import ContextFactory
from tests.e2e.test_calls import MEDIA, decodes, panel, remote_tile
from tests.e2e.test_media_messages import PLAYING, record
from tests.firefox.conftest import FirefoxOpener
from tests.firefox.driver import Tab
from tests.firefox.pages import open_room, tid

MEDIA_S = MEDIA / 1000


def firefox_tile(user: Client) -> str:
    return (
        f'[data-testid="call-panel"] [data-testid="call-tile"][data-local="no"]'
        f'[data-user="{user.id}"][data-role="camera"]'
    )


async def firefox_decodes(tab: Tab, user: Client, *, above: int = 0) -> int:
    """Until Firefox's tile of `user` has decoded more than `above` frames and heard audio;
    returns the frame count."""
    return int(
        await tab.wait(
            "(s, above) => { const el = document.querySelector(s);"
            " return el && Number(el.dataset.frames) > above"
            " && Number(el.dataset.audioSamples) > 0 ? Number(el.dataset.frames) : 0 }",
            firefox_tile(user),
            above,
            what=f"Firefox decodes {user.user['username']}'s video and audio",
            timeout=MEDIA_S,
        )
    )


async def test_a_video_call_between_firefox_and_chromium_flows_both_ways(
    firefox_as: FirefoxOpener, open_as: ContextFactory, make_user: UserFactory
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    dm = (await new_room(alice, bob, kind="direct"))["id"]
    tab = await firefox_as(alice)
    _, bob_page = await open_as(bob)
    await expect(bob_page.get_by_test_id(f"room-link-{dm}")).to_be_visible()

    # Firefox calls; Chromium answers the ring with video.
    await open_room(tab, dm)
    await tab.click(tid("room-view", "call-start-video"))
    ring = bob_page.get_by_test_id("ring-overlay")
    await expect(ring).to_be_visible(timeout=chromium.SLOW)
    await ring.get_by_test_id("ring-accept-video").click()
    await expect(panel(bob_page)).to_have_attribute("data-participants", "2", timeout=chromium.SLOW)
    await tab.wait(
        "() => document.querySelector('[data-testid=\"call-panel\"]')?.dataset.participants"
        " === '2'",
        what="Firefox's call has two people",
    )

    # Each side decodes the other's camera and microphone, and keeps decoding.
    frames = await firefox_decodes(tab, bob)
    await decodes(bob_page, remote_tile(bob_page, alice))
    seen = int(await remote_tile(bob_page, alice).get_attribute("data-frames") or 0)
    await firefox_decodes(tab, bob, above=frames + 30)
    await decodes(bob_page, remote_tile(bob_page, alice), above=seen + 30)

    await tab.click(tid("call-leave"))
    await expect(panel(bob_page)).to_have_count(0, timeout=chromium.SLOW)
    await tab.wait(
        "() => !document.querySelector('[data-testid=\"call-panel\"]')", what="Firefox left"
    )


# Firefox's MediaRecorder WebM has no duration or cues: Chromium cannot play it until the
# server remuxes recordings (another part of issue 15). Run and reported, never hidden.
async def plays_in_chromium(page: Page) -> float:
    audio = chromium.room_list(page).get_by_test_id("audio-player")
    await expect(audio).to_have_count(1, timeout=chromium.SLOW)
    await audio.evaluate("(el) => { void el.play() }")
    await page.wait_for_function(PLAYING, arg=await audio.element_handle(), timeout=MEDIA)
    return float(await audio.evaluate("(el) => el.duration"))


async def test_a_voice_message_recorded_in_firefox_plays_in_chromium(
    firefox_as: FirefoxOpener, open_as: ContextFactory, make_user: UserFactory
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    rid = (await new_room(alice, bob, name="ff-voice"))["id"]
    tab = await firefox_as(alice)
    _, bob_page = await open_as(bob)
    await open_room(tab, rid)
    await chromium.open_room(bob_page, rid)

    await tab.click(tid("room-view", "composer-record-voice"))
    await tab.wait(
        "() => document.querySelector('[data-testid=\"recorder\"]')?.dataset.state === 'recording'",
        what="Firefox records",
    )
    await tab.wait(
        "() => document.querySelector('[data-testid=\"recorder-timer\"]')?.textContent.trim()"
        " === '0:03'",
        what="three seconds recorded",
    )
    await tab.click(tid("recorder-stop"))
    await tab.click(tid("recorder-send"))
    await tab.wait(
        "() => !document.querySelector('[data-testid=\"recorder\"]')", what="the recorder closed"
    )
    seconds = await plays_in_chromium(bob_page)
    assert 2.5 < seconds < 6, seconds


async def test_a_voice_message_recorded_in_chromium_plays_in_firefox(
    firefox_as: FirefoxOpener, open_as: ContextFactory, make_user: UserFactory
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    rid = (await new_room(alice, bob, name="ff-voice-back"))["id"]
    _, alice_page = await open_as(alice)
    tab = await firefox_as(bob)
    await chromium.open_room(alice_page, rid)
    await open_room(tab, rid)

    await record(alice_page, "voice", 3)
    player = tid("room-view", "message-list", "audio-player")
    await tab.wait("(s) => !!document.querySelector(s)", player, what="the voice message arrives")
    await tab.call("(s) => { void document.querySelector(s).play() }", player)
    seconds = await tab.wait(
        "(s) => { const el = document.querySelector(s);"
        f" return ({PLAYING})(el) ? el.duration : 0 }}",
        player,
        what="Firefox plays it (finite duration, time moving)",
        timeout=MEDIA_S,
    )
    assert 2.5 < float(seconds) < 6, seconds
