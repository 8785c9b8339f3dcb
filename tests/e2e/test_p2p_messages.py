"""Peer-to-peer conversations (issue #7): a direct room switched to peer-to-peer carries its
messages only between its members' browsers. They arrive, reach the author's other device,
sync to a device that joins later, wait for an offline recipient, and never reach the
server's database."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

from playwright.async_api import BrowserContext, Locator, Page, expect

from tests.client import Client
from tests.conftest import UserFactory, new_room
from tests.e2e.conftest import ContextFactory
from tests.e2e.helpers import SLOW, message, open_room, room_list, send
from tests.server import Server


def bodies(page: Page) -> Locator:
    return page.get_by_test_id("p2p-conversation").get_by_test_id("p2p-body")


def sent_by_me(page: Page, text: str) -> Locator:
    return page.get_by_test_id("p2p-message").filter(has_text=text)


async def say(page: Page, text: str) -> None:
    box = page.get_by_test_id("room-view").get_by_test_id("composer-input")
    await box.fill(text)
    await box.press("Enter")
    await expect(box).to_have_value("")
    await expect(sent_by_me(page, text)).to_have_count(1)


async def open_dm(open_as: ContextFactory, user: Client, room: int) -> tuple[BrowserContext, Page]:
    context, page = await open_as(user)
    await open_room(page, room)
    return context, page


def text_in_database(data: Path, needle: str) -> list[str]:
    """Every table.column of the server's SQLite database holding `needle`, read-only."""
    found = []
    db = sqlite3.connect(f"file:{data / 'pychat.db'}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            columns = [r[1] for r in db.execute(f"PRAGMA table_info('{table}')")]
            for column in columns:
                hit = db.execute(
                    f"SELECT 1 FROM '{table}' WHERE instr(CAST(\"{column}\" AS BLOB), ?) > 0"
                    " LIMIT 1",
                    (needle.encode(),),
                ).fetchone()
                if hit:
                    found.append(f"{table}.{column}")
    finally:
        db.close()
    return found


def files_holding(data: Path, needle: str) -> list[Path]:
    return [p for p in data.rglob("*") if p.is_file() and needle.encode() in p.read_bytes()]


async def test_p2p_messages_reach_both_users_and_every_device_but_never_the_server(
    open_as: ContextFactory, make_user: UserFactory, server: Server
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    dm = (await new_room(alice, bob, kind="direct"))["id"]
    _, alice_page = await open_dm(open_as, alice, dm)
    bob_context, bob_page = await open_dm(open_as, bob, dm)

    # Alice switches the conversation; Bob's side switches too, and both are told plainly.
    await alice_page.get_by_test_id("p2p-toggle").click()
    for page in (alice_page, bob_page):
        await expect(page.get_by_test_id("p2p-toggle")).to_have_attribute("aria-pressed", "true")
        banner = page.get_by_test_id("p2p-banner")
        await expect(banner).to_contain_text("kept only on those devices")
        await expect(banner).to_contain_text("Both sides must be online")

    tag = uuid.uuid4().hex
    hello, reply = f"hello over p2p {tag}", f"reply over p2p {tag}"
    await say(alice_page, hello)
    await expect(bodies(bob_page)).to_have_text([hello], timeout=SLOW)
    await expect(sent_by_me(alice_page, hello)).to_have_attribute(
        "data-delivered", "true", timeout=SLOW
    )
    await say(bob_page, reply)
    await expect(bodies(alice_page)).to_have_text([hello, reply], timeout=SLOW)

    # Alice's second device, opened later, gets the history from the devices it meets...
    _, alice_second = await open_dm(open_as, alice, dm)
    await expect(bodies(alice_second)).to_have_text([hello, reply], timeout=SLOW)
    # ...and what it sends reaches Bob and Alice's first device.
    from_second = f"from alice's second device {tag}"
    await say(alice_second, from_second)
    for page in (alice_page, bob_page):
        await expect(bodies(page)).to_have_text([hello, reply, from_second], timeout=SLOW)

    # Bob goes away: Alice's message waits on her devices and says so...
    await bob_page.close()
    later = f"while bob was away {tag}"
    await say(alice_page, later)
    waiting = sent_by_me(alice_page, later)
    await expect(waiting).to_have_attribute("data-delivered", "false")
    await expect(waiting.get_by_test_id("p2p-waiting")).to_be_visible()
    # ...and is delivered when a device of his appears (his history is on his device).
    bob_back = await bob_context.new_page()
    await bob_back.goto(f"/rooms/{dm}")
    await expect(bodies(bob_back)).to_have_text([hello, reply, from_second, later], timeout=SLOW)
    await expect(waiting).to_have_attribute("data-delivered", "true", timeout=SLOW)
    await expect(waiting.get_by_test_id("p2p-waiting")).to_have_count(0)

    # Not one of them reached the server: not its database, not any file in its data dir.
    assert text_in_database(server.data, tag) == []
    assert files_holding(server.data, tag) == []
    status, history = await alice.call("GET", f"/api/rooms/{dm}/messages")
    assert status == 200 and history["messages"] == []

    # Switched back, the conversation is ordinary server chat again for both.
    await alice_page.get_by_test_id("p2p-toggle").click()
    for page in (alice_page, bob_back):
        await expect(page.get_by_test_id("p2p-toggle")).to_have_attribute("aria-pressed", "false")
        await expect(page.get_by_test_id("p2p-conversation")).to_have_count(0)
    await send(alice_page, f"on the server again {tag}")
    await expect(message(room_list(bob_back), f"on the server again {tag}")).to_have_count(1)
