"""Files in the browser: an image dropped and two pasted reach the other person's window as
previews (and open in a lightbox); a PDF is a file card; a cancelled upload leaves no message;
a refused file shows the server's reason; a file attached offline arrives once. Profile and
room pictures: test_pictures.py."""

from __future__ import annotations

import re
import uuid
from typing import Any

from playwright.async_api import FilePayload, Route, expect

from tests.client import Client
from tests.conftest import USER_PASSWORD, UserFactory, new_room
from tests.e2e.conftest import ContextFactory, screenshot_path
from tests.e2e.files import (
    CACHED_URLS,
    DRAG_OVER,
    DROP_IMAGE,
    PASTE_IMAGE,
    a_pdf,
    composer_uploads_done,
    stored_attachments,
    wait_until_loaded,
)
from tests.e2e.helpers import (
    SLOW,
    Network,
    message,
    messages,
    open_room,
    room_list,
    send,
    wait_for_service_worker,
    wait_until_outbox_holds,
)
from tests.server import ADMIN_PASSWORD


async def test_an_image_dropped_and_one_pasted_show_in_the_other_window(
    open_as: ContextFactory, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    room = await new_room(alice, bob, name="pictures")
    rid = room["id"]
    _, alice_page = await open_as(alice)
    _, bob_page = await open_as(bob)
    await open_room(alice_page, rid)
    await open_room(bob_page, rid)
    await wait_for_service_worker(bob_page)

    # Dragged over the room, which shows where the file goes; dropped (not on the composer):
    # the card shows a preview and its progress.
    room_view = alice_page.get_by_test_id("room-view")
    await alice_page.evaluate(DRAG_OVER)
    await expect(room_view).to_have_class(re.compile(r"\bdrop-target\b"))
    await alice_page.screenshot(path=screenshot_path("uploads-drag-over"))
    await alice_page.evaluate(DROP_IMAGE, ["screenshot.png", 640, 400, "#2f62e0"])
    await expect(room_view).not_to_have_class(re.compile(r"\bdrop-target\b"))
    await composer_uploads_done(alice_page, 1)
    composer = alice_page.get_by_test_id("room-view").get_by_test_id("composer-files")
    await expect(composer.get_by_test_id("upload-name")).to_have_text("screenshot.png")
    await send(alice_page, "the dropped one")

    seen = message(room_list(bob_page), "the dropped one")
    preview = seen.get_by_test_id("image-preview").locator("img")
    await expect(preview).to_have_count(1, timeout=SLOW)
    await wait_until_loaded(bob_page, preview)
    # The box has the image's shape before it loads (640×400 fits 360 wide: 360×225).
    box = await seen.get_by_test_id("image-preview").bounding_box()
    assert box is not None and abs(box["width"] / box["height"] - 640 / 400) < 0.05, box

    # Cells copied from a spreadsheet come with a picture of themselves: the text wins.
    await alice_page.evaluate(PASTE_IMAGE, ["image.png", 90, 30, "#888888", "A1\tB1"])
    await expect(composer).to_have_count(0)
    # Two pasted into the composer, sent together with no text at all.
    await alice_page.evaluate(PASTE_IMAGE, ["image.png", 300, 300, "#23a55a"])
    await alice_page.evaluate(PASTE_IMAGE, ["image.png", 200, 400, "#e0a800"])
    await composer_uploads_done(alice_page, 2)
    box_input = alice_page.get_by_test_id("room-view").get_by_test_id("composer-input")
    await box_input.press("Enter")
    bob_previews = room_list(bob_page).get_by_test_id("image-preview").locator("img")
    await expect(bob_previews).to_have_count(3, timeout=SLOW)
    for i in (1, 2):
        await wait_until_loaded(bob_page, bob_previews.nth(i))
    await expect(alice_page.get_by_test_id("pending-message")).to_have_count(0)

    # The lightbox: opens on a click, steps with the arrows, closes with Escape.
    await room_list(bob_page).get_by_test_id("image-preview").nth(1).click()
    lightbox = bob_page.get_by_test_id("lightbox")
    await expect(lightbox).to_be_visible()
    await wait_until_loaded(bob_page, lightbox.get_by_test_id("lightbox-image"))
    await expect(lightbox).to_contain_text("1 of 2")
    await bob_page.keyboard.press("ArrowRight")
    await expect(lightbox).to_contain_text("2 of 2")
    await wait_until_loaded(bob_page, lightbox.get_by_test_id("lightbox-image"))
    await bob_page.screenshot(path=screenshot_path("uploads-lightbox"))
    await bob_page.keyboard.press("Escape")
    await expect(lightbox).to_have_count(0)

    # The service worker keeps no file: its caches are shared by whoever uses this browser.
    cached = await bob_page.evaluate(CACHED_URLS)
    assert cached and not [url for url in cached if "/api/" in url], cached

    stored = await stored_attachments(bob, rid)
    assert [[a["mime"] for a in files] for files in stored] == [
        ["image/png"],
        ["image/png", "image/png"],
    ]
    assert stored[0][0]["name"] == "screenshot.png"
    assert (stored[0][0]["width"], stored[0][0]["height"]) == (640, 400)
    assert stored[1][0]["name"].startswith("Pasted image ")  # not every paste "image.png"
    await alice_page.screenshot(path=screenshot_path("uploads-images"))


async def test_a_pdf_is_a_file_card_with_name_size_and_download(
    open_as: ContextFactory, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    rid = (await new_room(alice, bob, name="docs"))["id"]
    _, alice_page = await open_as(alice)
    _, bob_page = await open_as(bob)
    await open_room(alice_page, rid)
    await open_room(bob_page, rid)
    pdf = a_pdf()
    name = "Q3 report; rm -rf ~ $(id) `x` & <b>bold.pdf"
    picker = alice_page.get_by_test_id("room-view").get_by_test_id("composer-file-input")
    await picker.set_input_files({"name": name, "mimeType": "application/pdf", "buffer": pdf})
    await composer_uploads_done(alice_page, 1)
    await alice_page.screenshot(path=screenshot_path("uploads-composer"))
    await send(alice_page, "the report")

    card = message(room_list(bob_page), "the report").get_by_test_id("file-card")
    await expect(card).to_have_count(1, timeout=SLOW)
    # Shown as text, exactly as named: never markup, never a path.
    await expect(card.get_by_test_id("file-name")).to_have_text(name)
    await expect(card.get_by_test_id("file-meta")).to_have_text(f"PDF · {len(pdf) / 1024:.1f} KB")
    href = await card.get_by_test_id("file-download").get_attribute("href")
    assert href is not None and href.startswith("/api/uploads/")
    # Bob downloads it with his session: the very bytes alice sent.
    fetched = await bob_page.evaluate(
        "async (url) => { const r = await fetch(url);"
        " return [r.status, [...new Uint8Array(await r.arrayBuffer())]] }",
        href,
    )
    assert fetched[0] == 200 and bytes(fetched[1]) == pdf
    await bob_page.screenshot(path=screenshot_path("uploads-file-card"))


async def test_a_cancelled_upload_leaves_no_message(
    open_as: ContextFactory, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    rid = (await new_room(alice, bob, name="cancel"))["id"]
    alice_context, alice_page = await open_as(alice)
    _, bob_page = await open_as(bob)
    await open_room(alice_page, rid)
    await open_room(bob_page, rid)
    held: list[Route] = []

    async def hold(route: Route) -> None:
        held.append(route)  # never answered: the upload stays in progress until cancelled

    await alice_context.route("**/api/uploads", hold)
    picker = alice_page.get_by_test_id("room-view").get_by_test_id("composer-file-input")
    blob: FilePayload = {
        "name": "big.bin",
        "mimeType": "application/octet-stream",
        "buffer": b"\0" * 200_000,
    }

    # Cancelled in the composer, before sending.
    await picker.set_input_files(blob)
    card = alice_page.get_by_test_id("room-view").get_by_test_id("upload-card")
    await expect(card).to_have_attribute("data-state", "uploading")
    await card.get_by_test_id("upload-cancel").click()
    await expect(card).to_have_count(0)
    await expect(
        alice_page.get_by_test_id("room-view").get_by_test_id("composer-send")
    ).to_be_disabled()

    # Sent with no text, then cancelled while the message waits for it.
    await picker.set_input_files(blob)
    await alice_page.get_by_test_id("room-view").get_by_test_id("composer-input").press("Enter")
    pending = alice_page.get_by_test_id("pending-message")
    await expect(pending.get_by_test_id("upload-card")).to_have_attribute("data-state", "uploading")
    await pending.get_by_test_id("upload-cancel").click()
    await expect(pending).to_have_count(0)

    await alice_context.unroute("**/api/uploads")
    await send(alice_page, "after the cancel")
    await expect(message(room_list(bob_page), "after the cancel")).to_have_count(1, timeout=SLOW)
    await expect(messages(room_list(bob_page))).to_have_count(1)
    assert await stored_attachments(bob, rid) == [[]]
    assert len(held) == 2


async def test_a_file_over_the_limit_shows_the_servers_reason(
    make_server: Any, open_as: ContextFactory
) -> None:
    small = make_server({"PYCHAT_UPLOADS_MAX_BYTES": "4096"})
    admin = await Client(small.url).login("admin", ADMIN_PASSWORD)
    username = f"carol{uuid.uuid4().hex[:6]}"
    await admin.post(
        "/api/admin/users", {"username": username, "password": USER_PASSWORD}, expect=201
    )
    carol = await Client(small.url).login(username, USER_PASSWORD)
    try:
        room = await carol.post("/api/rooms", {"kind": "private", "name": "limits"}, expect=201)
        rid = room["room"]["id"]
        _, page = await open_as(carol, server=small)
        await open_room(page, rid)
        picker = page.get_by_test_id("room-view").get_by_test_id("composer-file-input")
        await picker.set_input_files(
            {"name": "too-big.bin", "mimeType": "application/octet-stream", "buffer": b"x" * 10_000}
        )
        card = page.get_by_test_id("room-view").get_by_test_id("upload-card")
        await expect(card).to_have_attribute("data-state", "failed", timeout=SLOW)
        reason = (await card.get_by_test_id("upload-status").text_content()) or ""
        assert "4" in reason and ("KiB" in reason or "KB" in reason or "bytes" in reason), reason
        send_button = page.get_by_test_id("room-view").get_by_test_id("composer-send")
        await expect(send_button).to_be_disabled()
        await card.get_by_test_id("upload-cancel").click()
        await expect(card).to_have_count(0)
        assert await stored_attachments(carol, rid) == []
    finally:
        await carol.close()
        await admin.close()


async def test_an_image_attached_offline_waits_through_a_reload_and_arrives_once(
    open_as: ContextFactory, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    rid = (await new_room(alice, bob, name="offline files"))["id"]
    context, page = await open_as(alice)
    _, bob_page = await open_as(bob)
    await open_room(page, rid)
    await open_room(bob_page, rid)
    await send(page, "online first")
    await wait_for_service_worker(page)

    network = Network(context)
    await network.go_offline()
    await expect(page.get_by_test_id("offline-banner")).to_be_visible()
    await page.evaluate(PASTE_IMAGE, ["image.png", 320, 240, "#c62f2f"])
    card = page.get_by_test_id("room-view").get_by_test_id("upload-card")
    await expect(card).to_have_attribute("data-state", "waiting")
    box = page.get_by_test_id("room-view").get_by_test_id("composer-input")
    await box.fill("from the train")
    await box.press("Enter")
    pending = page.get_by_test_id("pending-message")
    await expect(pending.get_by_test_id("upload-status")).to_have_text("Waiting for the network")

    # The file waits in IndexedDB with its message: a reload while offline keeps both.
    await wait_until_outbox_holds(page, 1)
    await page.reload()
    await expect(page.get_by_test_id("offline-banner")).to_be_visible()
    await expect(pending.get_by_test_id("upload-name")).to_have_count(1)
    await expect(pending.get_by_test_id("upload-status")).to_have_text("Waiting for the network")

    await network.go_online()
    await expect(pending).to_have_count(0, timeout=SLOW)
    preview = message(room_list(bob_page), "from the train").get_by_test_id("image-preview")
    await expect(preview).to_have_count(1, timeout=SLOW)
    await wait_until_loaded(bob_page, preview.locator("img"))
    stored = await stored_attachments(alice, rid)
    assert [[a["width"] for a in files] for files in stored] == [[], [320]]
