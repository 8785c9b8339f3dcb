"""Calls in the real app: two people in two browser contexts with Chromium's fake camera and
microphone. Both sides decode the other's video and audio, directly and relayed only
through our own TURN server; a shared screen arrives as a second picture; the call
survives the WebSocket dropping; a decline stops the ring on every device."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, Locator, Page, expect

from tests.client import Client
from tests.conftest import USER_PASSWORD, UserFactory, new_room
from tests.e2e.conftest import ContextFactory, screenshot_path
from tests.e2e.helpers import SLOW, open_room
from tests.rtc.serve import start_turn_serve
from tests.server import ADMIN_PASSWORD, Server

# Decoding starts within a second or two on a LAN; a loaded 2-core machine needs more.
MEDIA = 30_000


def panel(page: Page) -> Locator:
    return page.get_by_test_id("call-panel")


def remote_tile(page: Page, user: Client, role: str = "camera") -> Locator:
    return panel(page).locator(
        f'[data-testid="call-tile"][data-local="no"][data-user="{user.id}"][data-role="{role}"]'
    )


async def number(tile: Locator, attribute: str) -> int:
    return int(await tile.get_attribute(attribute) or 0)


async def decodes(page: Page, tile: Locator, *, above: int = 0, audio: bool = True) -> None:
    """Waits until the tile's stream has decoded more than `above` video frames (and, for a
    camera, received audio samples): what a person sees and hears."""
    handle = await tile.element_handle()
    await page.wait_for_function(
        "([el, above, audio]) => Number(el.dataset.frames) > above"
        " && (!audio || Number(el.dataset.audioSamples) > 0)",
        arg=[handle, above, audio],
        timeout=MEDIA,
    )


async def call_between(caller: Page, callee: Page, room: int, *, video: bool = True) -> None:
    """The caller starts a call from the room; the callee answers the ring."""
    await open_room(caller, room)
    start = "call-start-video" if video else "call-start"
    await caller.get_by_test_id("room-view").get_by_test_id(start).click()
    await expect(panel(caller)).to_be_visible()
    ring = callee.get_by_test_id("ring-overlay")
    await expect(ring).to_be_visible(timeout=SLOW)
    await ring.get_by_test_id("ring-accept-video" if video else "ring-accept-audio").click()
    for page in (caller, callee):
        await expect(panel(page)).to_have_attribute("data-participants", "2", timeout=SLOW)


async def dm_in_two_windows(
    open_as: ContextFactory, make_user: UserFactory
) -> tuple[Client, Client, int, Page, Page]:
    """Alice and Bob, their direct room, and a window of each showing it in the sidebar."""
    alice, bob = await make_user("alice"), await make_user("bob")
    dm = (await new_room(alice, bob, kind="direct"))["id"]
    _, alice_page = await open_as(alice)
    _, bob_page = await open_as(bob)
    await expect(alice_page.get_by_test_id(f"room-link-{dm}")).to_be_visible()
    return alice, bob, dm, alice_page, bob_page


async def test_a_video_call_from_a_dm_with_screen_sharing_survives_a_reconnect(
    open_as: ContextFactory, make_user: UserFactory
) -> None:
    alice, bob, dm, alice_page, bob_page = await dm_in_two_windows(open_as, make_user)

    await call_between(alice_page, bob_page, dm)
    alice_sees, bob_sees = remote_tile(alice_page, bob), remote_tile(bob_page, alice)
    await decodes(alice_page, alice_sees)
    await decodes(bob_page, bob_sees)
    # The fake microphone beeps: the speaker's tile lights up; the link is graded from stats.
    await expect(bob_sees).to_have_attribute("data-speaking", "yes", timeout=SLOW)
    # (good on a quiet LAN; a busy test machine may make it fair, never unknown.)
    await expect(bob_sees).to_have_attribute("data-quality", re.compile("^(good|fair)$"))
    # Both sidebars show the call in progress with two people in it.
    for page in (alice_page, bob_page):
        await expect(page.get_by_test_id(f"call-marker-{dm}")).to_contain_text("2")

    # Alice shares her screen: Bob gets a second picture beside her camera.
    await alice_page.get_by_test_id("call-screen").click()
    await expect(alice_page.get_by_test_id("call-screen")).to_have_attribute("aria-pressed", "true")
    screen = remote_tile(bob_page, alice, "screen")
    await expect(screen).to_have_count(1, timeout=SLOW)
    await decodes(bob_page, screen, audio=False)
    await bob_page.screenshot(path=screenshot_path("call-dm-screen-share"))

    # Alice's WebSocket drops and comes back: the call goes on, nobody is lost.
    old_conn = await panel(alice_page).get_attribute("data-conn")
    await alice_page.evaluate("() => window.dispatchEvent(new Event('offline'))")
    await alice_page.evaluate("() => window.dispatchEvent(new Event('online'))")
    await expect(panel(alice_page)).not_to_have_attribute("data-conn", old_conn or "", timeout=SLOW)
    await expect(alice_page.get_by_test_id("connection")).to_have_attribute("data-state", "online")
    seen_before = await number(bob_sees, "data-frames")
    heard_before = await number(alice_sees, "data-frames")
    await decodes(bob_page, bob_sees, above=seen_before + 30)
    await decodes(alice_page, alice_sees, above=heard_before + 30)
    for page in (alice_page, bob_page):
        await expect(panel(page)).to_have_attribute("data-participants", "2")
    # The server has Alice's seat on her new socket.
    sock = await alice.connect()
    calls = (await sock.ok({"type": "rtc.calls"}))["calls"]
    seats = {p["user"]: p for p in calls[0]["participants"]}
    assert str(seats[alice.id]["conn"]) == await panel(alice_page).get_attribute("data-conn")
    assert seats[alice.id]["screen"] and seats[alice.id]["connected"]

    # Bob hangs up; in a direct call that ends it for Alice too.
    await bob_page.get_by_test_id("call-leave").click()
    for page in (alice_page, bob_page):
        await expect(panel(page)).to_have_count(0, timeout=SLOW)
        await expect(page.get_by_test_id(f"call-marker-{dm}")).to_have_count(0, timeout=SLOW)


async def test_a_screen_shared_in_an_audio_only_call_reaches_the_other_side(
    open_as: ContextFactory, make_user: UserFactory
) -> None:
    alice, _bob, dm, alice_page, bob_page = await dm_in_two_windows(open_as, make_user)

    # Neither camera is on: the connection carries audio only until the screen comes.
    await call_between(alice_page, bob_page, dm, video=False)
    bob_hears = remote_tile(bob_page, alice)
    handle = await bob_hears.element_handle(timeout=SLOW)
    await bob_page.wait_for_function(
        "el => Number(el.dataset.audioSamples) > 0", arg=handle, timeout=MEDIA
    )

    # Alice shares her screen: Bob sees it move, at the size Alice captures it.
    await alice_page.get_by_test_id("call-screen").click()
    await expect(alice_page.get_by_test_id("call-screen")).to_have_attribute("aria-pressed", "true")
    screen = remote_tile(bob_page, alice, "screen")
    await expect(screen).to_have_count(1, timeout=SLOW)
    await decodes(bob_page, screen, audio=False)
    captured = await alice_page.evaluate(
        "() => { const v = document.querySelector("
        "'[data-testid=call-tile][data-local=yes][data-role=screen] video');"
        " return [v.videoWidth, v.videoHeight] }"
    )
    shown = await screen.evaluate(
        "el => { const v = el.querySelector('video'); return [v.videoWidth, v.videoHeight] }"
    )
    assert captured[0] > 0 and shown == captured
    # Her voice still arrives beside it.
    heard = await number(bob_hears, "data-audio-samples")
    await bob_page.wait_for_function(
        "([el, n]) => Number(el.dataset.audioSamples) > n", arg=[handle, heard], timeout=MEDIA
    )


async def test_a_group_call_a_late_joiner_gets_everyone_and_mute_shows(
    open_as: ContextFactory, make_user: UserFactory
) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("c")
    room = (await new_room(alice, bob, carol, name="standup"))["id"]
    _, alice_page = await open_as(alice)
    _, bob_page = await open_as(bob)
    _, carol_page = await open_as(carol)
    await expect(carol_page.get_by_test_id(f"room-link-{room}")).to_be_visible()

    await call_between(alice_page, bob_page, room, video=False)
    # Carol declines the ring; the room shows the running call, and she joins it later.
    await carol_page.get_by_test_id("ring-decline").click()
    await expect(carol_page.get_by_test_id(f"call-marker-{room}")).to_contain_text("2")
    await open_room(carol_page, room)
    join = carol_page.get_by_test_id("room-view").get_by_test_id("call-join")
    await expect(join).to_contain_text(alice.user["username"])
    await join.click()
    pages = {alice.id: alice_page, bob.id: bob_page, carol.id: carol_page}
    people = {alice.id: alice, bob.id: bob, carol.id: carol}
    for page in pages.values():
        await expect(panel(page)).to_have_attribute("data-participants", "3", timeout=SLOW)
    # Everyone hears both others (audio only: frames stay 0, samples arrive).
    for me, page in pages.items():
        for other in people.values():
            if other.id != me:
                tile = remote_tile(page, other)
                handle = await tile.element_handle(timeout=SLOW)
                await page.wait_for_function(
                    "el => Number(el.dataset.audioSamples) > 0", arg=handle, timeout=MEDIA
                )
    # Bob mutes: the others see it on his tile.
    await bob_page.get_by_test_id("call-mute").click()
    for page in (alice_page, carol_page):
        await expect(remote_tile(page, bob).get_by_test_id("tile-muted")).to_be_visible()


async def test_declining_on_one_device_stops_the_ring_on_all(
    open_as: ContextFactory, make_user: UserFactory
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    dm = (await new_room(alice, bob, kind="direct"))["id"]
    _, alice_page = await open_as(alice)
    bob_context, bob_page = await open_as(bob)
    bob_phone = await bob_context.new_page()
    await bob_phone.goto("/")
    await expect(bob_phone.get_by_test_id(f"room-link-{dm}")).to_be_visible()

    await open_room(alice_page, dm)
    await alice_page.get_by_test_id("room-view").get_by_test_id("call-start").click()
    await expect(alice_page.get_by_test_id("call-waiting")).to_be_visible()
    for page in (bob_page, bob_phone):
        await expect(page.get_by_test_id("ring-overlay")).to_be_visible(timeout=SLOW)
    await bob_phone.get_by_test_id("ring-decline").click()
    for page in (bob_page, bob_phone):
        await expect(page.get_by_test_id("ring-overlay")).to_have_count(0)
    # Nobody answered: the call is over for Alice, she is told why, and can call again.
    await expect(panel(alice_page)).to_have_count(0, timeout=SLOW)
    await expect(alice_page.get_by_test_id("call-notice")).to_have_text("Declined")
    await expect(
        alice_page.get_by_test_id("room-view").get_by_test_id("call-start")
    ).to_be_visible()


async def test_an_unanswered_call_rings_out_and_the_caller_is_told(
    open_as: ContextFactory, make_server: Callable[..., Server], make_user: UserFactory
) -> None:
    srv = make_server({"PYCHAT_CALLS_RING_TIMEOUT_S": "3"})
    admin = await Client(srv.url).login("admin", ADMIN_PASSWORD)
    try:
        alice = await make_user("alice", base_url=srv.url, via=admin)
        bob = await make_user("bob", base_url=srv.url, via=admin)
        dm = (await new_room(alice, bob, kind="direct"))["id"]
        _, alice_page = await open_as(alice, server=srv)
        _, bob_page = await open_as(bob, server=srv)
        await open_room(alice_page, dm)
        await alice_page.get_by_test_id("room-view").get_by_test_id("call-start").click()
        await expect(bob_page.get_by_test_id("ring-overlay")).to_be_visible(timeout=SLOW)
        # Nobody picks up: the ring stops by itself and the caller learns why.
        await expect(bob_page.get_by_test_id("ring-overlay")).to_have_count(0, timeout=SLOW)
        await expect(panel(alice_page)).to_have_count(0)
        await expect(alice_page.get_by_test_id("call-notice")).to_have_text("No answer")
    finally:
        await admin.close()


# --- Relayed only through the TURN server inside `pychat serve` ------------------------


@pytest.fixture
def turn_server(tmp_path: Path) -> Iterator[Server]:
    server, _ = start_turn_serve(tmp_path / "data")
    yield server
    server.stop()


@pytest.fixture
async def turn_people(turn_server: Server) -> AsyncIterator[tuple[Client, Client]]:
    admin = await Client(turn_server.url).login("admin", ADMIN_PASSWORD)
    people = []
    for name in ("alice", "bob"):
        await admin.post(
            "/api/admin/users", {"username": name, "password": USER_PASSWORD}, expect=201
        )
        people.append(await Client(turn_server.url).login(name, USER_PASSWORD))
    yield people[0], people[1]
    for client in (*people, admin):
        await client.close()


async def relay_only(context: BrowserContext) -> None:
    await context.add_init_script(f"window.__pychatTest = {json.dumps({'relayOnly': True})}")


async def test_a_call_relayed_only_through_our_turn_server(
    open_as: ContextFactory, turn_server: Server, turn_people: tuple[Client, Client]
) -> None:
    alice, bob = turn_people
    dm = (await new_room(alice, bob, kind="direct"))["id"]
    alice_context, alice_page = await open_as(alice, server=turn_server)
    bob_context, bob_page = await open_as(bob, server=turn_server)
    for context, page in ((alice_context, alice_page), (bob_context, bob_page)):
        await relay_only(context)
        await page.reload()
    await expect(alice_page.get_by_test_id(f"room-link-{dm}")).to_be_visible()

    await call_between(alice_page, bob_page, dm)
    for page, other in ((alice_page, bob), (bob_page, alice)):
        tile = remote_tile(page, other)
        await decodes(page, tile)
        await expect(tile).to_have_attribute("data-route", "relay")


async def test_a_test_call_with_echo_shows_and_plays_back_your_own_media(
    open_as: ContextFactory, turn_server: Server, turn_people: tuple[Client, Client]
) -> None:
    alice, _ = turn_people
    _, page = await open_as(alice, server=turn_server, path="/settings")
    await page.get_by_test_id("test-call").click()
    await expect(panel(page)).to_have_attribute("data-participants", "2", timeout=SLOW)
    echo = panel(page).locator('[data-testid="call-tile"][data-local="no"][data-role="camera"]')
    await decodes(page, echo)
    await page.get_by_test_id("call-leave").click()
    await expect(panel(page)).to_have_count(0)
