"""Rooms from the sidebar: create a channel, browse and join it, room settings; direct
messages with presence; profile changes seen by others."""

from __future__ import annotations

import asyncio
import re
import uuid

from playwright.async_api import Route, expect

from tests.conftest import UserFactory, new_room
from tests.e2e.conftest import ContextFactory
from tests.e2e.helpers import SLOW, message, room_list, send


async def test_create_browse_join_and_room_settings(
    open_as: ContextFactory, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    _, alice_page = await open_as(alice)
    _, bob_page = await open_as(bob)
    name = f"design-{uuid.uuid4().hex[:6]}"

    await alice_page.get_by_test_id("create-channel").click()
    dialog = alice_page.get_by_test_id("new-room-dialog")
    await dialog.get_by_test_id("room-name-input").fill(name)
    await dialog.get_by_test_id("room-topic-input").fill("Pixels and paper")
    await dialog.get_by_test_id("create-room-submit").click()
    await expect(dialog).to_have_count(0)
    await expect(alice_page.get_by_test_id("room-title")).to_have_text(f"#{name}")
    await expect(alice_page.get_by_test_id("room-topic")).to_have_text("Pixels and paper")
    rid = await alice_page.get_by_test_id("room-view").get_attribute("data-room-id")
    await send(alice_page, "Welcome to the design channel")

    await bob_page.get_by_test_id("nav-browse").click()
    browse = bob_page.get_by_test_id("browse-view")
    await browse.get_by_test_id("channel-filter").fill(name[:10])
    await expect(browse.get_by_test_id(f"channel-{name}")).to_be_visible()
    await expect(browse.get_by_test_id("channel-general")).to_have_count(0)
    await browse.get_by_test_id(f"join-{name}").click()
    await expect(bob_page.get_by_test_id("room-view")).to_have_attribute("data-room-id", str(rid))
    await expect(message(room_list(bob_page), "Welcome to the design channel")).to_have_count(1)
    await expect(bob_page.get_by_test_id(f"room-link-{rid}")).to_be_visible()
    # Alice sees the new member.
    await expect(alice_page.get_by_test_id("room-settings-button")).to_have_text("2")

    # Any member may change the topic; everyone sees it at once.
    await bob_page.get_by_test_id("room-settings-button").click()
    settings = bob_page.get_by_test_id("room-settings-dialog")
    await expect(settings.get_by_test_id(f"member-{alice.user['username']}")).to_be_visible()
    await expect(settings.get_by_test_id(f"member-{bob.user['username']}")).to_be_visible()
    await expect(settings.get_by_test_id("settings-room-name")).to_be_disabled()  # not owner
    await settings.get_by_test_id("settings-room-topic").fill("Pixels, paper and prototypes")
    await settings.get_by_test_id("settings-room-save").click()
    await settings.get_by_test_id("settings-close").click()
    await expect(settings).to_have_count(0)
    await expect(alice_page.get_by_test_id("room-topic")).to_have_text(
        "Pixels, paper and prototypes"
    )
    # The owner may rename.
    await alice_page.get_by_test_id("room-settings-button").click()
    owner_settings = alice_page.get_by_test_id("room-settings-dialog")
    await owner_settings.get_by_test_id("settings-room-name").fill(f"{name}-team")
    await owner_settings.get_by_test_id("settings-room-save").click()
    await expect(bob_page.get_by_test_id("room-title")).to_have_text(f"#{name}-team")
    await expect(bob_page.get_by_test_id(f"room-link-{rid}")).to_have_attribute(
        "data-room-name", f"{name}-team"
    )


async def test_direct_messages_presence_and_profile(
    open_as: ContextFactory, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    alice_context, alice_page = await open_as(alice)
    _, bob_page = await open_as(bob)
    bob_name = bob.user["username"]

    await alice_page.get_by_test_id("create-direct").click()
    dialog = alice_page.get_by_test_id("new-direct-dialog")
    await dialog.get_by_test_id("user-filter").fill(bob_name)
    await dialog.get_by_test_id(f"pick-user-{bob_name}").check()
    await dialog.get_by_test_id("create-direct-submit").click()
    await expect(alice_page.get_by_test_id("room-title")).to_have_text(bob.user["display_name"])
    await expect(alice_page.get_by_test_id("room-topic")).to_have_text("online")
    rid = await alice_page.get_by_test_id("room-view").get_attribute("data-room-id")
    await send(alice_page, "psst")

    # The conversation appears in Bob's sidebar live, with Alice's presence and unread count.
    link = bob_page.get_by_test_id(f"room-link-{rid}")
    await expect(link).to_have_attribute(
        "aria-label", f"Direct message with {alice.user['display_name']}, online, 1 unread"
    )
    await expect(link.get_by_test_id(f"presence-{alice.id}")).to_have_class(
        re.compile(r"\bonline\b")
    )
    await link.click()
    await expect(message(room_list(bob_page), "psst")).to_have_count(1)

    # Alice changes her profile: Bob sees the new name and status without reloading.
    await alice_page.get_by_test_id("nav-settings").click()
    await alice_page.get_by_test_id("profile-display-name").fill("Alice Liddell")
    await alice_page.get_by_test_id("profile-status").fill("Down the rabbit hole")
    await alice_page.get_by_test_id("profile-save").click()
    await expect(alice_page.get_by_test_id("current-user")).to_have_text("Alice Liddell")
    await expect(bob_page.get_by_test_id("room-title")).to_have_text("Alice Liddell")
    await expect(bob_page.get_by_test_id("room-topic")).to_have_text(
        "online · Down the rabbit hole"
    )
    await expect(
        message(room_list(bob_page), "psst").get_by_test_id("message-author")
    ).to_have_text("Alice Liddell")

    # Alice leaves (her only tab closes): Bob sees her go offline.
    await alice_context.close()
    await expect(link.get_by_test_id(f"presence-{alice.id}")).not_to_have_class(
        re.compile(r"\bonline\b"), timeout=SLOW
    )
    await expect(bob_page.get_by_test_id("room-topic")).not_to_contain_text("online")


# Notes in the page whether "Room not available" was ever shown, however briefly.
WATCH_MISSING = """
new MutationObserver(() => {
  if (document.querySelector('[data-testid=room-missing]')) window.__roomMissingSeen = true
}).observe(document, { childList: true, subtree: true })
"""


async def test_a_link_to_a_room_never_says_it_is_not_available_while_loading(
    open_as: ContextFactory, make_user: UserFactory
) -> None:
    """Opened straight from a link, the room shows once the rooms arrive; the page never
    claims meanwhile that the person is no member of it (it did, for a moment)."""
    alice = await make_user("alice")
    room = await new_room(alice)
    _, page = await open_as(alice, path=f"/rooms/{room['id']}", init_script=WATCH_MISSING)
    await expect(page.get_by_test_id("room-view")).to_be_visible(timeout=SLOW)
    assert await page.evaluate("window.__roomMissingSeen === true") is False

    # A room that really is not theirs still says so, once the list is known.
    await page.goto("/rooms/999999")
    await expect(page.get_by_test_id("room-missing")).to_be_visible(timeout=SLOW)


async def test_search_clicked_while_the_rooms_load_is_not_overridden_by_the_home_redirect(
    open_as: ContextFactory, make_user: UserFactory
) -> None:
    # Home sends her to her last room once the rooms are known; if she has already asked
    # for another page meanwhile, she stays there (it sent her to #general in a CI run).
    alice = await make_user("alice")
    context, page = await open_as(alice, path="about:blank")
    rooms_sent, page_code_sent = asyncio.Event(), asyncio.Event()
    asked_for_page_code = asyncio.Event()

    async def hold_rooms(route: Route) -> None:
        await rooms_sent.wait()
        await route.continue_()

    async def hold_page_code(route: Route) -> None:
        asked_for_page_code.set()
        await page_code_sent.wait()
        await route.continue_()

    await context.route(re.compile(r".*/api/rooms(\?.*)?$"), hold_rooms)
    await context.route(re.compile(r".*/assets/SearchView-[^/]*\.js$"), hold_page_code)
    await page.goto("/")
    # She clicks Search while the rooms are still on their way and its page is loading.
    await page.get_by_test_id("nav-search").click()
    await asyncio.wait_for(asked_for_page_code.wait(), SLOW / 1000)
    rooms_sent.set()
    await expect(page.locator("[data-testid^='room-link-']").first).to_be_visible(timeout=SLOW)
    page_code_sent.set()
    view = page.get_by_test_id("search-view")
    await expect(view).to_be_visible(timeout=SLOW)
    await expect(page.get_by_test_id("connection")).to_have_attribute(
        "data-caught-up", "yes", timeout=SLOW
    )
    await expect(view).to_be_visible()
    assert page.url.endswith("/search"), page.url
