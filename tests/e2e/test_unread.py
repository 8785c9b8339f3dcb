"""Unread and mentions that never lie (issue 15): a big backlog opens at its first unread
message and is marked read only as it is seen; "Jump to first unread"; "Mark as unread"
reaching the other devices; a mention in a thread badged live and cleared by the thread."""

from __future__ import annotations

import asyncio
from typing import Any

from playwright.async_api import Locator, Page, expect

from tests.client import Client, Socket
from tests.conftest import UserFactory, new_room
from tests.e2e.conftest import ContextFactory
from tests.e2e.helpers import SLOW, hover_action, message, open_room, room_list
from tests.integration.test_messages import room_state
from tests.waiting import wait_until


async def seed(sock: Socket, room_id: int, count: int, prefix: str) -> list[dict[str, Any]]:
    """`count` messages sent in bursts over one socket (the server batches their writes);
    returned in the order they were stored."""
    sent: list[dict[str, Any]] = []
    for start in range(0, count, 100):
        batch = range(start, min(count, start + 100))
        sent += await asyncio.gather(*(sock.send_message(room_id, f"{prefix} {i}") for i in batch))
    return sorted(sent, key=lambda m: int(m["id"]))


def badge(page: Page, room_id: int) -> Locator:
    return page.get_by_test_id(f"room-link-{room_id}").get_by_test_id("unread-badge")


async def badge_count(page: Page, room_id: int) -> int:
    shown = badge(page, room_id)
    if not await shown.count():
        return 0
    return int((await shown.text_content() or "0").strip())


async def in_view(list_: Locator, item: Locator) -> bool:
    """The item's top is inside the scrolling list's visible box."""
    box, outer = await item.bounding_box(), await list_.bounding_box()
    if box is None or outer is None:
        return False
    return bool(outer["y"] - 1 <= box["y"] < outer["y"] + outer["height"])


async def test_a_big_backlog_opens_at_the_first_unread_and_is_read_as_it_is_seen(
    open_as: ContextFactory, make_user: UserFactory
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await new_room(alice, bob)
    a, b = await alice.connect(), await bob.connect()
    seen = await a.send_message(room["id"], "already seen")
    await b.ok({"type": "read.mark", "room": room["id"], "message": seen["id"]})
    backlog = await seed(a, room["id"], 500, "backlog")
    first = str(backlog[0]["body"])

    _, page = await open_as(bob)
    await expect(badge(page, room["id"])).to_have_text("500", timeout=SLOW)
    await open_room(page, room["id"])
    timeline = room_list(page)

    # It opens at the first unread message, under the "New messages" line ...
    line = timeline.get_by_test_id("new-messages-line")
    await expect(line).to_be_visible(timeout=SLOW)
    first_row = message(timeline, first).first
    await expect(first_row).to_be_visible()
    await wait_until(lambda: in_view(timeline, first_row), what="the first unread on screen")
    await wait_until(lambda: in_view(timeline, line), what="the new-messages line on screen")
    # ... and only what is on screen is read: hundreds stay unread, here and on the server.
    # (The badge shows 500 until the rows on screen are marked read: wait for that.)
    count = await wait_until(
        lambda: _lower_than(page, room["id"], 500), what="the rows on screen read", timeout=SLOW
    )
    assert 400 < count < 500, count
    assert (await room_state(bob, room["id"]))["unread"] > 400

    # Scrolling down reads more: the count goes down, and the server's with it.
    for _ in range(4):
        await timeline.evaluate("el => el.scrollBy(0, el.clientHeight)")
    lower = await wait_until(
        lambda: _lower_than(page, room["id"], count),
        what="a lower unread count",
        timeout=SLOW,
    )
    assert 0 < lower < count
    await wait_until(
        lambda: _server_unread_at_most(bob, room["id"], lower),
        what="the server's unread count following",
    )

    # The first unread is now above the screen: "Jump to first unread" brings it back.
    jump = page.get_by_test_id("jump-to-first-unread")
    await expect(jump).to_be_visible()
    await jump.click()
    await wait_until(lambda: in_view(timeline, line), what="the new-messages line on screen")
    await expect(jump).to_have_count(0)

    # A reload opens the room again at the (new) first unread, with most still unread.
    await page.reload()
    await expect(line).to_be_visible(timeout=SLOW)
    await wait_until(lambda: in_view(timeline, line), what="the line on screen after a reload")
    assert (await room_state(bob, room["id"]))["unread"] > 300


async def _lower_than(page: Page, room_id: int, count: int) -> int | None:
    now = await badge_count(page, room_id)
    return now if 0 < now < count else None


async def _server_unread_at_most(user: Client, room_id: int, count: int) -> bool:
    return bool((await room_state(user, room_id))["unread"] <= count)


async def test_mark_as_unread_restores_the_count_on_every_device(
    open_as: ContextFactory, make_user: UserFactory
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await new_room(alice, bob)
    a = await alice.connect()
    for i in range(5):
        await a.send_message(room["id"], f"note {i}")
    _, laptop = await open_as(bob)
    _, phone = await open_as(bob)
    await expect(badge(phone, room["id"])).to_have_text("5", timeout=SLOW)

    await open_room(laptop, room["id"])
    await expect(badge(phone, room["id"])).to_have_count(0, timeout=SLOW)  # all read

    note = message(room_list(laptop), "note 2")
    await (await hover_action(note, "mark-unread")).click()

    # Three unread again (note 2, 3 and 4), on the other device too, and it stays so here.
    await expect(badge(phone, room["id"])).to_have_text("3", timeout=SLOW)
    await expect(badge(laptop, room["id"])).to_have_text("3")
    assert (await room_state(bob, room["id"]))["unread"] == 3
    # The new-messages line moved to just above that message.
    line = room_list(laptop).get_by_test_id("new-messages-line")
    after_line = line.locator("xpath=following-sibling::article[1]")
    await expect(after_line.get_by_test_id("message-body")).to_have_text("note 2")


async def test_a_thread_mention_badges_live_and_clears_when_the_thread_is_seen(
    open_as: ContextFactory, make_user: UserFactory
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await new_room(alice, bob)
    elsewhere = await new_room(alice, bob)
    a = await alice.connect()
    root = await a.send_message(room["id"], "Plans for Friday")
    _, page = await open_as(bob)
    await open_room(page, room["id"])
    await expect(message(room_list(page), "Plans for Friday")).to_be_visible(timeout=SLOW)
    await open_room(page, elsewhere["id"])

    username = bob.user["username"]
    await a.send_message(room["id"], f"@{username} can you bring the cake?", thread=root["id"])

    # Live: the room shows the mention at once.
    mention = page.get_by_test_id(f"room-link-{room['id']}").get_by_test_id("mention-badge")
    await expect(mention).to_have_text("@1", timeout=SLOW)

    # Opening the room does not see the thread; opening the thread does.
    await open_room(page, room["id"])
    await expect(mention).to_have_text("@1")
    await page.get_by_test_id(f"thread-link-{root['id']}").click()
    panel = page.get_by_test_id("thread-panel")
    await expect(message(panel, "bring the cake")).to_be_visible(timeout=SLOW)
    await expect(mention).to_have_count(0, timeout=SLOW)

    # And it stays cleared after a reload.
    await page.reload()
    await expect(page.get_by_test_id(f"room-link-{room['id']}")).to_be_visible(timeout=SLOW)
    await expect(mention).to_have_count(0)
    state = await room_state(bob, room["id"])
    assert (state["mentions"], state["thread_mentions"]) == (0, 0)


async def test_reading_the_room_does_not_clear_a_thread_mention(
    open_as: ContextFactory, make_user: UserFactory
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await new_room(alice, bob)
    a = await alice.connect()
    root = await a.send_message(room["id"], "Release notes")
    await a.send_message(room["id"], f"@{bob.user['username']} please review", thread=root["id"])

    _, page = await open_as(bob)
    mention = page.get_by_test_id(f"room-link-{room['id']}").get_by_test_id("mention-badge")
    await expect(mention).to_have_text("@1", timeout=SLOW)
    await open_room(page, room["id"])

    # Reading the room is not reading the thread: the mention stays, here and on the server.
    async def room_read() -> bool:
        return bool((await room_state(bob, room["id"]))["last_read_message_id"] == root["id"])

    await wait_until(room_read, what="the room read up to the thread's root")
    await expect(mention).to_have_text("@1")
    assert (await room_state(bob, room["id"]))["mentions"] == 1

    await page.get_by_test_id(f"thread-link-{root['id']}").click()
    await expect(mention).to_have_count(0, timeout=SLOW)
    await wait_until(
        lambda: _server_mentions_are(bob, room["id"], 0), what="the server's mentions cleared"
    )


async def _server_mentions_are(user: Client, room_id: int, count: int) -> bool:
    return bool((await room_state(user, room_id))["mentions"] == count)
