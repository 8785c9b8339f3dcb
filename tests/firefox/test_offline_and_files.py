"""Firefox offline (the service worker and IndexedDB: a reload with no network, an outbox
sent once after reconnecting) and uploads between Firefox and Chromium."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from PIL import Image
from playwright.async_api import expect

from tests.conftest import UserFactory, new_room
from tests.e2e import helpers as chromium
from tests.e2e.conftest import ContextFactory
from tests.e2e.files import DROP_IMAGE, IMAGE_LOADED, composer_uploads_done
from tests.firefox.conftest import FirefoxOpener
from tests.firefox.pages import COMPOSER, bodies, open_room, send, tid, wait_for_message

BANNER = tid("offline-banner")
PENDING = tid("pending-message")
COUNT = "(s) => document.querySelectorAll(s).length"

# The app's IndexedDB store's entries (awaited: BiDi scripts may return a promise).
IDB_COUNT = """(store) => new Promise((resolve) => {
  const open = indexedDB.open('pychat')
  open.onerror = () => resolve(-1)
  open.onsuccess = () => {
    const db = open.result
    try {
      const count = db.transaction(store).objectStore(store).count()
      count.onsuccess = () => { db.close(); resolve(count.result) }
      count.onerror = () => { db.close(); resolve(-1) }
    } catch (e) { db.close(); resolve(-1) }
  }
})"""
CACHED_HISTORY = """(room, text) => new Promise((resolve) => {
  const open = indexedDB.open('pychat')
  open.onerror = () => resolve(false)
  open.onsuccess = () => {
    const db = open.result
    try {
      const get = db.transaction('history').objectStore('history').get(room)
      get.onsuccess = () => { db.close()
        resolve(!!get.result && get.result.messages.some((m) => m.body.includes(text))) }
      get.onerror = () => { db.close(); resolve(false) }
    } catch (e) { db.close(); resolve(false) }
  }
})"""


async def test_firefox_reloads_offline_and_its_outbox_arrives_once(
    firefox_as: FirefoxOpener, open_as: ContextFactory, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    rid = (await new_room(alice, bob, name="ff-offline"))["id"]
    tab = await firefox_as(alice)
    _, bob_page = await open_as(bob)
    await open_room(tab, rid)
    await chromium.open_room(bob_page, rid)
    await send(tab, "online before")
    await tab.wait(
        "() => navigator.serviceWorker.controller !== null", what="the service worker controls"
    )
    await tab.wait(CACHED_HISTORY, rid, "online before", what="the history is cached")

    await tab.set_offline(True)
    await tab.wait("(s) => !!document.querySelector(s)", BANNER, what="the offline banner")
    offline = ["offline 1", "offline 2"]
    for i, text in enumerate(offline, start=1):
        await tab.type(COMPOSER, text, enter=True)
        await tab.wait(f"(s) => ({COUNT})(s) === {i}", PENDING, what=f"{i} pending")
    await tab.wait(
        f"() => ({IDB_COUNT})('outbox').then((n) => n === 2)", what="the outbox holds both"
    )

    # Reloaded with no network: the app, the room's history and the outbox come back.
    await tab.reload()
    await tab.wait("(s) => !!document.querySelector(s)", BANNER, what="the banner after reload")
    await tab.wait(f"(s) => ({COUNT})(s) === 2", PENDING, what="the outbox after reload")
    await tab.wait(
        "(id) => document.querySelector('[data-testid=\"room-view\"]')?.dataset.roomId === id",
        str(rid),
        what="the room reopened offline",
    )
    await wait_for_message(tab, "online before")
    assert "offline 1" not in await chromium.room_bodies(alice, rid)

    await tab.set_offline(False)
    await tab.wait(f"(s) => ({COUNT})(s) === 0", PENDING, what="the outbox sent", timeout=40)
    expected = ["online before", *offline]
    await expect(chromium.room_list(bob_page).get_by_test_id("message-body")).to_have_text(
        expected, timeout=chromium.SLOW
    )
    await tab.wait(
        "(list, want) => JSON.stringify([...document.querySelectorAll(list"
        " + ' [data-testid=\"message-body\"]')].map((b) => b.textContent.trim()))"
        " === JSON.stringify(want)",
        tid("room-view", "message-list"),
        expected,
        what="Firefox shows each once",
    )
    stored = await chromium.room_bodies(alice, rid)
    assert stored == expected and all(n == 1 for n in Counter(stored).values()), stored
    assert await bodies(tab) == expected


async def test_pictures_uploaded_in_firefox_and_in_chromium_show_on_the_other_side(
    firefox_as: FirefoxOpener, open_as: ContextFactory, make_user: UserFactory, tmp_path: Path
) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    rid = (await new_room(alice, bob, name="ff-upload"))["id"]
    tab = await firefox_as(alice)
    _, bob_page = await open_as(bob)
    await open_room(tab, rid)
    await chromium.open_room(bob_page, rid)

    # Firefox picks a file from disk (the file chooser's input).
    picture = tmp_path / "from firefox.png"
    Image.new("RGB", (320, 200), (30, 120, 200)).save(picture)
    await tab.set_files(tid("room-view", "composer-file-input"), [str(picture)])
    await tab.wait(
        '() => [...document.querySelectorAll(\'[data-testid="room-view"]'
        " [data-testid=\"upload-card\"]')].every((c) => c.dataset.state === 'done')"
        ' && document.querySelectorAll(\'[data-testid="room-view"]'
        ' [data-testid="upload-card"]\').length === 1',
        what="the upload is done",
        timeout=40,
    )
    await send(tab, "a picture from firefox")
    seen = chromium.message(chromium.room_list(bob_page), "a picture from firefox")
    img = seen.get_by_test_id("image-preview").locator("img")
    await expect(img).to_have_count(1, timeout=chromium.SLOW)
    await bob_page.wait_for_function(
        IMAGE_LOADED, arg=await img.element_handle(), timeout=chromium.SLOW
    )
    size = await img.evaluate("(el) => [el.naturalWidth, el.naturalHeight]")
    assert size[0] > 0 and size[1] > 0, size

    # Chromium drops one: Firefox loads it.
    await bob_page.evaluate(DROP_IMAGE, ["from chromium.png", 240, 160, "#c03030"])
    await composer_uploads_done(bob_page, 1)
    await chromium.send(bob_page, "a picture from chromium")
    await wait_for_message(tab, "a picture from chromium")
    await tab.wait(
        "() => [...document.querySelectorAll('[data-testid=\"image-preview\"] img')]"
        ".filter((i) => i.complete && i.naturalWidth > 0).length === 2",
        what="both pictures loaded in Firefox",
        timeout=40,
    )
