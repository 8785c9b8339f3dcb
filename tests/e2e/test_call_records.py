"""Calls leave a trace in the timeline, and a channel call is a banner, not a ring
(issue 15, correctness item 4): two people in two browser contexts with Chromium's fake
camera and microphone."""

from __future__ import annotations

import re

from playwright.async_api import Locator, Page, expect

from tests.conftest import UserFactory, new_room
from tests.e2e.conftest import ContextFactory
from tests.e2e.helpers import SLOW, open_room


def panel(page: Page) -> Locator:
    return page.get_by_test_id("call-panel")


def records(page: Page, event: str) -> Locator:
    timeline = page.get_by_test_id("room-view").get_by_test_id("message-list")
    return timeline.locator(f'[data-testid="call-record"][data-event="{event}"]')


async def test_after_a_dm_call_the_timeline_shows_the_call_with_its_duration(
    open_as: ContextFactory, make_user: UserFactory
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    dm = (await new_room(alice, bob, kind="direct"))["id"]
    _, alice_page = await open_as(alice)
    _, bob_page = await open_as(bob)
    await open_room(bob_page, dm)
    await open_room(alice_page, dm)

    await alice_page.get_by_test_id("room-view").get_by_test_id("call-start").click()
    ring = bob_page.get_by_test_id("ring-overlay")  # a direct call rings
    await expect(ring).to_be_visible(timeout=SLOW)
    await ring.get_by_test_id("ring-accept-audio").click()
    for page in (alice_page, bob_page):
        await expect(panel(page)).to_have_attribute("data-participants", "2", timeout=SLOW)
    await alice_page.get_by_test_id("call-leave").click()
    for page in (alice_page, bob_page):
        await expect(panel(page)).to_have_count(0, timeout=SLOW)

    # Both see who started it and how long it lasted, as compact lines in the timeline.
    await expect(records(bob_page, "started")).to_have_count(1, timeout=SLOW)
    started_by = alice.user["display_name"] or alice.user["username"]
    await expect(records(bob_page, "started")).to_contain_text(f"{started_by} started a call")
    await expect(records(alice_page, "started")).to_contain_text("You started a call")
    for page in (alice_page, bob_page):
        ended = records(page, "ended")
        await expect(ended).to_have_count(1, timeout=SLOW)
        await expect(ended).to_contain_text(re.compile(r"Call ended · \d+ (s|min)"))
    await expect(records(bob_page, "missed")).to_have_count(0)


async def test_a_channel_call_shows_a_join_banner_not_a_ring(
    open_as: ContextFactory, make_user: UserFactory
) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("c")
    room = (await new_room(alice, bob, carol, kind="channel"))["id"]
    _, alice_page = await open_as(alice)
    _, bob_page = await open_as(bob)
    _, carol_page = await open_as(carol)
    await expect(carol_page.get_by_test_id(f"room-link-{room}")).to_be_visible()
    await open_room(bob_page, room)
    await open_room(alice_page, room)

    await alice_page.get_by_test_id("room-view").get_by_test_id("call-start").click()
    await expect(panel(alice_page)).to_have_attribute("data-participants", "1")
    # Bob sees a banner he can join from, and the call's line in the timeline; no ring.
    banner = bob_page.get_by_test_id("call-banner")
    await expect(banner).to_be_visible(timeout=SLOW)
    await expect(banner).to_contain_text("started a call · 1 person in it")
    await expect(records(bob_page, "started")).to_have_count(1, timeout=SLOW)
    await expect(bob_page.get_by_test_id("ring-overlay")).to_have_count(0)
    await expect(panel(bob_page)).to_have_count(0)

    # Alice rings Carol on purpose: Carol alone gets the ring.
    await alice_page.get_by_test_id("call-ring-menu").click()
    await alice_page.get_by_test_id(f"call-ring-{carol.id}").click()
    await expect(carol_page.get_by_test_id("ring-overlay")).to_be_visible(timeout=SLOW)
    await expect(alice_page.get_by_test_id("call-waiting")).to_be_visible()
    await expect(bob_page.get_by_test_id("ring-overlay")).to_have_count(0)

    await banner.get_by_test_id("call-banner-join").click()
    for page in (alice_page, bob_page):
        await expect(panel(page)).to_have_attribute("data-participants", "2", timeout=SLOW)
    await expect(banner).to_have_count(0)  # in the call now: the panel, not the banner
    await expect(bob_page.get_by_test_id("ring-overlay")).to_have_count(0)
