"""Threads, reactions, edit, delete, mentions and search, through the UI of two people."""

from __future__ import annotations

import re

from playwright.async_api import Dialog, Page, expect

from tests.client import Client
from tests.conftest import UserFactory, new_room
from tests.e2e.conftest import ContextFactory
from tests.e2e.helpers import (
    SLOW,
    hover_action,
    message,
    open_room,
    room_bodies,
    room_list,
    send,
)


async def two_in_a_room(
    open_as: ContextFactory, make_user: UserFactory, name: str
) -> tuple[Client, Client, int, Page, Page]:
    alice = await make_user("alice")
    bob = await make_user("bob")
    room = await new_room(alice, bob, name=name)
    _, alice_page = await open_as(alice)
    _, bob_page = await open_as(bob)
    for page in (alice_page, bob_page):
        await open_room(page, room["id"])
    return alice, bob, room["id"], alice_page, bob_page


def msg_id(testid: str | None) -> int:
    assert testid is not None and testid.startswith("message-")
    return int(testid.removeprefix("message-"))


async def test_threads(open_as: ContextFactory, make_user: UserFactory) -> None:
    _, _, rid, alice_page, bob_page = await two_in_a_room(open_as, make_user, "threads")
    root = await send(alice_page, "Where is the release checklist?")
    root_id = msg_id(await root.get_attribute("data-testid"))

    bob_root = message(room_list(bob_page), "Where is the release checklist?")
    await (await hover_action(bob_root, "thread")).click()
    bob_panel = bob_page.get_by_test_id("thread-panel")
    await expect(bob_panel).to_be_visible()
    await expect(bob_page).to_have_url(re.compile(rf"/rooms/{rid}\?thread={root_id}$"))
    await expect(message(bob_panel, "Where is the release checklist?")).to_have_count(1)
    await send(bob_page, "In the wiki, under Releases.", scope=bob_panel)

    # Alice sees the reply count, not the reply, in her timeline; the panel has it.
    link = alice_page.get_by_test_id(f"thread-link-{root_id}")
    await expect(link).to_have_text("1 reply")
    await expect(message(room_list(alice_page), "In the wiki")).to_have_count(0)
    await link.click()
    alice_panel = alice_page.get_by_test_id("thread-panel")
    await expect(message(alice_panel, "In the wiki, under Releases.")).to_have_count(1)
    await send(alice_page, "Thanks!", scope=alice_panel)
    await expect(message(bob_panel, "Thanks!")).to_have_count(1)
    for page in (alice_page, bob_page):
        await expect(page.get_by_test_id(f"thread-link-{root_id}")).to_have_text("2 replies")
        await expect(room_list(page).get_by_test_id("message-body")).to_have_text(
            ["Where is the release checklist?"]
        )

    await alice_page.get_by_test_id("close-thread").click()
    await expect(alice_panel).to_have_count(0)
    # A deep link opens the thread, after a reload too.
    await bob_page.goto(f"/rooms/{rid}?thread={root_id}")
    await expect(bob_panel.get_by_test_id("message-body")).to_have_text(
        ["Where is the release checklist?", "In the wiki, under Releases.", "Thanks!"]
    )


async def test_reactions_edit_and_delete(open_as: ContextFactory, make_user: UserFactory) -> None:
    alice, _, rid, alice_page, bob_page = await two_in_a_room(open_as, make_user, "reactions")
    sent = await send(alice_page, "Lunch at noon?")
    lunch_id = msg_id(await sent.get_attribute("data-testid"))
    bob_msg = bob_page.get_by_test_id(f"message-{lunch_id}")
    alice_msg = alice_page.get_by_test_id(f"message-{lunch_id}")

    # Bob reacts through the picker, searching for the emoji by name.
    await (await hover_action(bob_msg, "react")).click()
    picker = bob_page.get_by_test_id("emoji-picker")
    await picker.get_by_test_id("emoji-search").fill("thumbs")
    await picker.get_by_role("button", name="thumbs up", exact=True).click()
    await expect(picker).to_have_count(0)
    bob_thumb = bob_msg.get_by_test_id("reaction-👍")
    alice_thumb = alice_msg.get_by_test_id("reaction-👍")
    await expect(bob_thumb).to_contain_text("1")
    await expect(bob_thumb).to_have_attribute("aria-pressed", "true")
    await expect(alice_thumb).to_contain_text("1")
    await expect(alice_thumb).to_have_attribute("aria-pressed", "false")
    # Alice adds hers by clicking the chip; Bob takes his back.
    await alice_thumb.click()
    await expect(bob_thumb).to_contain_text("2")
    await expect(alice_thumb).to_have_attribute("aria-pressed", "true")
    await bob_thumb.click()
    await expect(alice_thumb).to_contain_text("1")
    await expect(bob_thumb).to_have_attribute("aria-pressed", "false")

    # Only the author may edit.
    await bob_msg.hover()
    await expect(bob_msg.get_by_test_id("action-react")).to_be_visible()
    await expect(bob_msg.get_by_test_id("action-edit")).to_have_count(0)
    await expect(bob_msg.get_by_test_id("action-delete")).to_have_count(0)
    await (await hover_action(alice_msg, "edit")).click()
    editor = alice_msg.get_by_test_id("edit-input")
    await expect(editor).to_have_value("Lunch at noon?")
    await editor.fill("Lunch at 12:30?")
    await editor.press("Enter")
    edited = message(room_list(bob_page), "Lunch at 12:30?")
    await expect(edited.get_by_test_id("message-edited")).to_be_visible()
    await expect(message(room_list(bob_page), "Lunch at noon?")).to_have_count(0)

    # Up arrow in the empty composer edits one's last message.
    last = await send(alice_page, "Room 4 is booked.")
    last = alice_page.get_by_test_id(await last.get_attribute("data-testid") or "")
    box = alice_page.get_by_test_id("room-view").get_by_test_id("composer-input")
    await box.press("ArrowUp")
    await last.get_by_test_id("edit-input").fill("Room 5 is booked.")
    await last.get_by_test_id("edit-save").click()
    await expect(message(room_list(bob_page), "Room 5 is booked.")).to_have_count(1)

    # Delete asks first; everyone sees the tombstone, without the reactions.
    async def accept(dialog: Dialog) -> None:
        assert dialog.type == "confirm"
        await dialog.accept()

    alice_page.once("dialog", accept)
    await (await hover_action(alice_msg, "delete")).click()
    for page in (alice_page, bob_page):
        tomb = page.get_by_test_id(f"message-{lunch_id}")
        await expect(tomb.get_by_test_id("message-deleted")).to_be_visible()
        await expect(tomb.get_by_test_id("reaction-👍")).to_have_count(0)
        await expect(tomb.get_by_test_id("message-body")).to_have_count(0)
    assert await room_bodies(alice, rid) == ["", "Room 5 is booked."]


async def test_mentions(open_as: ContextFactory, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    room = await new_room(alice, bob, name="mentions")
    rid = room["id"]
    _, alice_page = await open_as(alice)
    _, bob_page = await open_as(bob)  # Bob stays on the home page
    await open_room(alice_page, rid)
    bob_name = bob.user["username"]

    box = alice_page.get_by_test_id("room-view").get_by_test_id("composer-input")
    await box.press_sequentially(f"Hi @{bob_name[:5]}")
    suggestions = alice_page.get_by_test_id("mention-suggestions")
    await expect(suggestions).to_be_visible()
    await suggestions.get_by_test_id(f"mention-option-{bob_name}").click()
    await expect(box).to_have_value(f"Hi @{bob_name} ")
    await expect(suggestions).to_have_count(0)
    await box.press_sequentially("could you review the budget?")
    await box.press("Enter")
    await expect(message(room_list(alice_page), "could you review the budget?")).to_have_count(1)

    link = bob_page.get_by_test_id(f"room-link-{rid}")
    await expect(link.get_by_test_id("mention-badge")).to_have_text("@1")
    await expect(link).to_have_attribute("aria-label", "mentions, 1 mentions, 1 unread")

    # The keyboard picks @room too (Enter takes the highlighted suggestion, not sending).
    await box.press_sequentially("@roo")
    await expect(suggestions.get_by_test_id("mention-option-room")).to_be_visible()
    await box.press("Enter")
    await expect(box).to_have_value("@room ")
    await box.press_sequentially("standup in 5")
    await box.press("Enter")
    await expect(link.get_by_test_id("mention-badge")).to_have_text("@2")

    await link.click()
    mention = message(room_list(bob_page), "could you review the budget?")
    await expect(mention).to_have_class("message mentioned")
    await expect(mention.get_by_test_id("message-body")).to_contain_text(f"@{bob_name}")
    await expect(link.get_by_test_id("mention-badge")).to_have_count(0)
    await expect(link).to_have_attribute("aria-label", "mentions")


async def test_search_opens_results_in_context(
    open_as: ContextFactory, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    ops = await new_room(alice, bob, name="ops")
    dev = await new_room(alice, bob, name="dev")
    sock = await bob.connect()
    old = await sock.send_message(ops["id"], "The deployment of version 2 is done")
    # Enough newer messages that the hit is far outside the newest page.
    for i in range(70):
        await sock.send_message(ops["id"], f"chatter {i}")
    other = await sock.send_message(dev["id"], "deploy script fixed")
    root = await sock.send_message(dev["id"], "release notes")
    reply = await sock.send_message(
        dev["id"], "deployment notes are in the thread", thread=root["id"]
    )
    await sock.send_message(dev["id"], "unrelated")

    _, page = await open_as(alice)
    await page.get_by_test_id("nav-search").click()
    view = page.get_by_test_id("search-view")
    await view.get_by_test_id("search-input").fill("deplo")
    await view.get_by_test_id("search-submit").click()
    results = view.locator("[data-testid^='search-result-']")
    await expect(results).to_have_count(3)
    await expect(view.get_by_role("status")).to_have_text("3 results")
    # Newest first.
    ids = [await r.get_attribute("data-testid") for r in await results.all()]
    assert ids == [f"search-result-{m['id']}" for m in (reply, other, old)]

    # Narrowed to one room.
    await view.get_by_test_id("search-room").select_option(str(ops["id"]))
    await view.get_by_test_id("search-submit").click()
    await expect(results).to_have_count(1)
    await view.get_by_test_id(f"search-result-{old['id']}").click()

    # The old message opens in context, highlighted, though it is not in the newest page.
    await expect(page.get_by_test_id("room-view")).to_have_attribute("data-room-id", str(ops["id"]))
    await expect(page).to_have_url(re.compile(rf"/rooms/{ops['id']}\?message={old['id']}$"))
    hit = page.get_by_test_id(f"message-{old['id']}")
    await expect(hit).to_be_in_viewport(timeout=SLOW)
    await expect(hit).to_have_class("message highlighted")
    await expect(page.get_by_test_id("jump-to-latest")).to_be_visible()
    await page.get_by_test_id("jump-to-latest").click()
    await expect(message(room_list(page), "chatter 69")).to_be_in_viewport(timeout=SLOW)

    # A thread reply opens its thread.
    await page.go_back()
    await page.get_by_test_id("nav-search").click()
    await view.get_by_test_id("search-input").fill("deployment notes")
    await view.get_by_test_id("search-room").select_option(label="All rooms")
    await view.get_by_test_id("search-submit").click()
    await view.get_by_test_id(f"search-result-{reply['id']}").click()
    panel = page.get_by_test_id("thread-panel")
    await expect(message(panel, "deployment notes are in the thread")).to_have_count(1)
