"""Live chat between two people in two browser contexts, and a third tab that stays in step."""

from __future__ import annotations

from playwright.async_api import expect

from tests.conftest import UserFactory, new_room
from tests.e2e.conftest import ContextFactory
from tests.e2e.helpers import SLOW, bodies, message, open_room, room_bodies, room_list, send


async def test_two_people_chat_live_and_a_third_tab_stays_consistent(
    open_as: ContextFactory, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    room = await new_room(alice, bob, name="live")
    rid = room["id"]
    alice_context, alice_page = await open_as(alice)
    _, bob_page = await open_as(bob)
    alice_tab = await alice_context.new_page()  # the same person in a third tab
    await alice_tab.goto(f"/rooms/{rid}")
    await open_room(alice_page, rid)
    await expect(alice_tab.get_by_test_id("room-view")).to_have_attribute("data-room-id", str(rid))
    # Bob looks at another room: the conversation shows up as unread in his sidebar.
    bob_link = bob_page.get_by_test_id(f"room-link-{rid}")
    await expect(bob_link).to_be_visible()
    await expect(bob_link.get_by_test_id("unread-badge")).to_have_count(0)

    await expect(bob_link).to_have_attribute("aria-label", "live")
    await send(alice_page, "hi bob, are you there?")
    await expect(bob_link.get_by_test_id("unread-badge")).to_have_text("1")
    await expect(bob_link).to_have_attribute("aria-label", "live, 1 unread")
    await expect(message(room_list(alice_tab), "hi bob, are you there?")).to_have_count(1)

    await open_room(bob_page, rid)
    await expect(message(room_list(bob_page), "hi bob, are you there?")).to_have_count(1)
    await expect(bob_link.get_by_test_id("unread-badge")).to_have_count(0)
    # Bob has read it: alice sees it, in both her tabs.
    for page in (alice_page, alice_tab):
        await expect(page.get_by_test_id("seen-by")).to_contain_text(bob.user["username"])

    # Typing shows on the other side.
    await (
        bob_page.get_by_test_id("room-view")
        .get_by_test_id("composer-input")
        .press_sequentially("yes")
    )
    await expect(alice_page.get_by_test_id("typing-indicator")).to_have_text(
        f"{bob.user['display_name']} is typing…"
    )
    await send(bob_page, "yes, here", shown="yes, here")

    # A burst from the three tabs at once, without waiting in between.
    boxes = [
        ("alice 1", alice_page),
        ("bob 1", bob_page),
        ("alice tab 1", alice_tab),
        ("alice 2", alice_page),
        ("bob 2", bob_page),
        ("alice tab 2", alice_tab),
    ]
    for text, page in boxes:
        box = page.get_by_test_id("room-view").get_by_test_id("composer-input")
        await box.fill(text)
        await box.press("Enter")
    for _, page in boxes[:3]:
        for text, _ in boxes:
            await expect(message(room_list(page), text)).to_have_count(1, timeout=SLOW)
        await expect(page.get_by_test_id("pending-message")).to_have_count(0)

    stored = await room_bodies(alice, rid)
    assert len(stored) == len(set(stored)) == 2 + len(boxes)
    # Each tab's messages keep the order they were written in (tabs race each other).
    assert [b for b in stored if b.startswith("alice ") and "tab" not in b] == [
        "alice 1",
        "alice 2",
    ]
    assert [b for b in stored if "tab" in b] == ["alice tab 1", "alice tab 2"]
    assert [b for b in stored if b.startswith("bob ")] == ["bob 1", "bob 2"]
    # Every page shows exactly the server's order.
    for page in (alice_page, bob_page, alice_tab):
        await expect(room_list(page).get_by_test_id("message-body")).to_have_text(stored)

    # A reload of the third tab (from its cache, then catching up) shows the same.
    await alice_tab.reload()
    await expect(room_list(alice_tab).get_by_test_id("message-body")).to_have_text(stored)
    assert await bodies(alice_tab) == stored
