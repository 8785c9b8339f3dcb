"""The server restarts mid-conversation: every page reconnects by itself, resumes from its
last seq, and messages flow both ways again, each stored once."""

from __future__ import annotations

import re
import shutil
from collections import Counter
from pathlib import Path

from playwright.async_api import expect

from appliance.web.static import STATIC_DIR
from tests.conftest import new_room
from tests.e2e.conftest import ContextFactory, OwnUserFactory
from tests.e2e.helpers import (
    SLOW,
    message,
    open_room,
    room_bodies,
    room_list,
    send,
    wait_for_service_worker,
)
from tests.server import Server


async def test_server_restart_mid_conversation(
    own_server: Server, make_own_user: OwnUserFactory, open_as: ContextFactory
) -> None:
    alice = await make_own_user("alice")
    bob = await make_own_user("bob")
    room = await new_room(alice, bob, name="restart")
    _, alice_page = await open_as(alice, server=own_server)
    _, bob_page = await open_as(bob, server=own_server)
    for page in (alice_page, bob_page):
        await open_room(page, room["id"])
        await expect(page.get_by_test_id("offline-banner")).to_have_count(0)

    await send(alice_page, "before the restart, from alice")
    await expect(message(room_list(bob_page), "before the restart, from alice")).to_have_count(1)
    await send(bob_page, "before the restart, from bob")
    await expect(message(room_list(alice_page), "before the restart, from bob")).to_have_count(1)

    own_server.stop()
    for page in (alice_page, bob_page):
        await expect(page.get_by_test_id("offline-banner")).to_contain_text(
            "Cannot reach the server", timeout=SLOW
        )
    # Written while the server is down: it waits in the outbox.
    box = alice_page.get_by_test_id("room-view").get_by_test_id("composer-input")
    await box.fill("while the server was down")
    await box.press("Enter")
    await expect(alice_page.get_by_test_id("pending-message")).to_have_count(1)

    own_server.start()
    # Said through the API at once: the pages get it by replay or live, whichever comes first.
    sock = await bob.connect()
    await sock.send_message(room["id"], "right after the restart, over the API")
    for page in (alice_page, bob_page):
        await expect(page.get_by_test_id("offline-banner")).to_have_count(0, timeout=SLOW)
    await expect(alice_page.get_by_test_id("pending-message")).to_have_count(0, timeout=SLOW)
    for page in (alice_page, bob_page):
        for text in ("while the server was down", "right after the restart, over the API"):
            await expect(message(room_list(page), text)).to_have_count(1, timeout=SLOW)

    await send(alice_page, "after the restart, from alice")
    await expect(message(room_list(bob_page), "after the restart, from alice")).to_have_count(1)
    await send(bob_page, "after the restart, from bob")
    await expect(message(room_list(alice_page), "after the restart, from bob")).to_have_count(1)

    stored = await room_bodies(alice, room["id"])
    # Which of the two middle messages reached the server first is a race; nothing else is.
    assert stored[:2] == ["before the restart, from alice", "before the restart, from bob"]
    assert sorted(stored[2:4]) == [
        "right after the restart, over the API",
        "while the server was down",
    ]
    assert stored[4:] == ["after the restart, from alice", "after the restart, from bob"]
    assert set(Counter(stored).values()) == {1}
    # Every page shows the server's order.
    for page in (alice_page, bob_page):
        await expect(room_list(page).get_by_test_id("message-body")).to_have_text(stored)


async def test_a_new_version_after_a_restart_is_offered_before_reloading(
    own_server: Server,
    make_own_user: OwnUserFactory,
    open_as: ContextFactory,
    tmp_path: Path,
) -> None:
    alice = await make_own_user("alice")
    room = await new_room(alice, name="updates")
    context, page = await open_as(alice, server=own_server, path=f"/rooms/{room['id']}")
    await wait_for_service_worker(page)
    old = await page.evaluate("caches.keys()")
    assert len(old) == 1 and old[0].startswith("pychat-"), old

    # The same build with another version stamp stands in for a new release.
    newer = tmp_path / "static-newer"
    shutil.copytree(STATIC_DIR, newer)
    sw = newer / "sw.js"
    text, stamped = re.subn(
        r"const VERSION = '[^']*'", "const VERSION = 'e2e-newer'", sw.read_text()
    )
    assert stamped == 1
    sw.write_text(text)
    # A real build compresses its own sw.js (spa/build/compress.ts); the stale copies go.
    for copy in (newer / "sw.js.br", newer / "sw.js.gz"):
        copy.unlink(missing_ok=True)
    await page.get_by_test_id("room-view").get_by_test_id("composer-input").fill("half-written")
    await page.evaluate("window.__beforeUpdate = true")

    own_server.stop()
    await expect(page.get_by_test_id("offline-banner")).to_be_visible(timeout=SLOW)
    own_server.static_dir = newer
    own_server.start()
    served = await context.request.get("/sw.js")
    assert "e2e-newer" in await served.text()

    # After reconnecting the page finds the new version and asks; it does not reload by itself.
    prompt = page.get_by_test_id("update-prompt")
    await expect(prompt).to_be_visible(timeout=SLOW)
    assert await page.evaluate("window.__beforeUpdate === true")
    await expect(page.get_by_test_id("room-view").get_by_test_id("composer-input")).to_have_value(
        "half-written"
    )
    await prompt.get_by_role("button", name="Reload").click()
    await page.wait_for_function("() => window.__beforeUpdate === undefined", timeout=SLOW)
    await expect(prompt).to_have_count(0)
    await wait_for_service_worker(page)
    assert await page.evaluate("caches.keys()") == ["pychat-e2e-newer"]
    # The draft survived the reload.
    await expect(page.get_by_test_id("room-view").get_by_test_id("composer-input")).to_have_value(
        "half-written"
    )
