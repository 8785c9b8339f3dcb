"""Offline first: the app opens with no network from the service worker and IndexedDB, and
what is written offline reaches the server exactly once when the network returns."""

from __future__ import annotations

from collections import Counter

from playwright.async_api import expect

from tests.client import Client
from tests.conftest import UserFactory, new_room
from tests.e2e.conftest import ContextFactory
from tests.e2e.helpers import (
    SLOW,
    Network,
    bodies,
    message,
    open_room,
    room_bodies,
    room_list,
    send,
    wait_for_service_worker,
    wait_until_cached,
    wait_until_outbox_holds,
    wait_until_read_is_kept,
)
from tests.integration.test_messages import room_state
from tests.waiting import wait_until


async def test_page_reloads_offline_and_shows_history(
    open_as: ContextFactory, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    room = await new_room(alice, bob, name="offline-history")
    sock = await bob.connect()
    for i in range(5):
        await sock.send_message(room["id"], f"history line {i}")
    context, page = await open_as(alice)
    await open_room(page, room["id"])
    await send(page, "written just before the network dropped")
    await expect(page.get_by_test_id("offline-banner")).to_have_count(0)
    await wait_for_service_worker(page)
    await wait_until_cached(page, room["id"], "written just before the network dropped")

    network = Network(context)
    await network.go_offline()
    await page.reload()

    await expect(page.get_by_test_id("offline-banner")).to_be_visible()
    await expect(page.get_by_test_id("room-view")).to_have_attribute(
        "data-room-id", str(room["id"])
    )
    await expect(room_list(page).get_by_test_id("message-body")).to_have_text(
        [*(f"history line {i}" for i in range(5)), "written just before the network dropped"]
    )
    # The sidebar comes from the cache too: another room opens from it.
    await expect(page.get_by_test_id(f"room-link-{room['id']}")).to_be_visible()

    # Back online, the page catches up with what was said meanwhile.
    await sock.send_message(room["id"], "said while alice was offline")
    await network.go_online()
    await expect(page.get_by_test_id("offline-banner")).to_have_count(0, timeout=SLOW)
    await expect(message(room_list(page), "said while alice was offline")).to_have_count(
        1, timeout=SLOW
    )


async def test_messages_typed_offline_arrive_exactly_once(
    open_as: ContextFactory, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    room = await new_room(alice, bob, name="outbox")
    context, page = await open_as(alice)
    _, bob_page = await open_as(bob)
    await open_room(page, room["id"])
    await open_room(bob_page, room["id"])
    # A second tab of alice's: it shares the IndexedDB outbox with the first.
    other_tab = await context.new_page()
    await other_tab.goto(f"/rooms/{room['id']}")
    await send(page, "online before")
    await expect(message(room_list(bob_page), "online before")).to_have_count(1)
    await wait_for_service_worker(page)

    network = Network(context)
    await network.go_offline()
    await expect(page.get_by_test_id("offline-banner")).to_be_visible()
    box = page.get_by_test_id("room-view").get_by_test_id("composer-input")
    offline = [f"offline {i}" for i in range(1, 5)]
    pending = page.get_by_test_id("pending-message")
    for i, text in enumerate(offline[:2]):
        await box.fill(text)
        await box.press("Enter")
        await expect(pending).to_have_count(i + 1)
    await expect(pending.first).to_have_attribute("data-state", "pending")
    await expect(page.get_by_test_id("offline-banner")).to_contain_text("2 waiting to send")

    # The outbox lives in IndexedDB: a reload while offline keeps it. (The write commits a
    # few milliseconds after Enter; a reload faster than a human loses it: see the report.)
    await wait_until_outbox_holds(page, 2)
    await page.reload()
    await expect(page.get_by_test_id("offline-banner")).to_be_visible()
    await expect(pending).to_have_count(2)
    for i, text in enumerate(offline[2:], start=3):
        await box.fill(text)
        await box.press("Enter")
        await expect(pending).to_have_count(i)
    await expect(pending.locator(".md")).to_have_text(offline)
    # The other tab, reloaded offline, finds the same outbox: both tabs will try to send it.
    await wait_until_outbox_holds(page, 4)
    await other_tab.reload()
    await expect(other_tab.get_by_test_id("pending-message").locator(".md")).to_have_text(offline)
    for entry in await pending.all():
        await expect(entry).to_have_attribute("data-state", "pending")
    assert offline[0] not in await room_bodies(alice, room["id"])

    await network.go_online()
    await expect(pending).to_have_count(0, timeout=SLOW)
    await expect(page.get_by_test_id("offline-banner")).to_have_count(0)
    expected = ["online before", *offline]
    await expect(room_list(page).get_by_test_id("message-body")).to_have_text(expected)
    await expect(room_list(bob_page).get_by_test_id("message-body")).to_have_text(expected)
    await expect(other_tab.get_by_test_id("pending-message")).to_have_count(0, timeout=SLOW)
    await expect(room_list(other_tab).get_by_test_id("message-body")).to_have_text(expected)

    stored = await room_bodies(alice, room["id"])
    assert stored == expected, stored
    assert all(n == 1 for n in Counter(stored).values())
    # A reload online neither resends nor duplicates anything.
    await page.reload()
    await expect(room_list(page).get_by_test_id("message-body")).to_have_text(expected)
    assert await bodies(page) == expected
    assert await room_bodies(alice, room["id"]) == expected


async def test_a_room_read_offline_is_read_everywhere_once_back(
    open_as: ContextFactory, make_user: UserFactory
) -> None:
    """A mention read on a phone with no network stays read there (a reload included) and
    reaches the server and alice's other devices when the network returns."""
    alice, bob = await make_user("alice"), await make_user("bob")
    lobby = await new_room(alice, bob, name="lobby")
    room = await new_room(alice, bob, name="review")
    phone_context, phone = await open_as(alice)
    _, desktop = await open_as(alice)
    await open_room(phone, room["id"])  # its history is kept in the browser from now on
    for page in (phone, desktop):
        await open_room(page, lobby["id"])
    await wait_for_service_worker(phone)
    b = await bob.connect()
    await b.send_message(room["id"], "the draft is up")
    asked = await b.send_message(room["id"], f"@{alice.user['username']} can you look today?")
    mention = [
        p.get_by_test_id(f"room-link-{room['id']}").get_by_test_id("mention-badge")
        for p in (phone, desktop)
    ]
    for badge in mention:
        await expect(badge).to_have_text("@1", timeout=SLOW)
    await wait_until_cached(phone, room["id"], "can you look today?")

    network = Network(phone_context)
    await network.go_offline()
    await expect(phone.get_by_test_id("offline-banner")).to_be_visible()
    await open_room(phone, room["id"])
    await expect(message(room_list(phone), "can you look today?")).to_be_visible()
    await expect(mention[0]).to_have_count(0)
    # Kept in the browser: a reload with no network still shows it read.
    await wait_until_read_is_kept(phone, room["id"], int(asked["id"]))
    await phone.reload()
    await expect(phone.get_by_test_id("offline-banner")).to_be_visible()
    await expect(message(room_list(phone), "can you look today?")).to_be_visible()
    await expect(mention[0]).to_have_count(0)
    # Nobody else knows yet.
    await expect(mention[1]).to_have_text("@1")
    assert (await room_state(alice, room["id"]))["mentions"] == 1

    await network.go_online()
    await expect(phone.get_by_test_id("offline-banner")).to_have_count(0, timeout=SLOW)
    await expect(mention[1]).to_have_count(0, timeout=SLOW)
    await wait_until(
        lambda: _server_counts(alice, room["id"], unread=0, mentions=0),
        what="the server's counters of the room read offline",
    )
    await expect(mention[0]).to_have_count(0)


async def _server_counts(user: Client, room_id: int, *, unread: int, mentions: int) -> bool:
    state = await room_state(user, room_id)
    return bool(state["unread"] == unread and state["mentions"] == mentions)
