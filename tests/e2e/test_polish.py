"""Polish: desktop notifications for mentions and DMs while the tab is hidden, bundled
emoji and :shortcodes:, search that starts afresh from the sidebar."""

from __future__ import annotations

import json
from typing import Any

from playwright.async_api import Page, expect

from tests.conftest import UserFactory, new_room
from tests.e2e.conftest import ContextFactory, screenshot_path
from tests.e2e.helpers import (
    SLOW,
    TRACK_SHOWS,
    message,
    notifications_shown,
    open_room,
    room_list,
    send,
    wait_for_service_worker,
)
from tests.waiting import wait_until

# Runs before the app in every page of the context: the tab reports itself hidden.
HIDDEN = """
(() => {
  Object.defineProperty(Document.prototype, 'visibilityState', {
    configurable: true, get: () => 'hidden' })
  Object.defineProperty(Document.prototype, 'hidden', { configurable: true, get: () => true })
  document.addEventListener('DOMContentLoaded', () =>
    document.dispatchEvent(new Event('visibilitychange')))
})()
"""


def preferences(muted: list[int]) -> str:
    saved = {"theme": "light", "notifications": True, "mutedRooms": muted}
    return f"localStorage.setItem('pychat.preferences', {json.dumps(json.dumps(saved))})"


async def test_desktop_notifications_for_mentions_and_dms_when_hidden(
    open_as: ContextFactory, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    group = (await new_room(alice, bob, name="notify-group"))["id"]
    quiet = (await new_room(alice, bob, name="notify-muted"))["id"]
    dm = (await new_room(alice, bob, kind="direct"))["id"]

    context, page = await open_as(bob)
    await context.grant_permissions(["notifications"])
    await context.add_init_script(preferences([quiet]))
    await context.add_init_script(HIDDEN)
    await context.add_init_script(TRACK_SHOWS)
    await page.reload()
    for room in (group, quiet, dm):
        await expect(page.get_by_test_id(f"room-link-{room}")).to_be_visible(timeout=SLOW)
    assert await page.evaluate("() => document.visibilityState") == "hidden"
    assert await page.evaluate("() => Notification.permission") == "granted"
    # The app is connected and caught up: a message sent now reaches it live.
    await expect(page.get_by_test_id("connection")).to_have_attribute(
        "data-caught-up", "yes", timeout=SLOW
    )

    await wait_for_service_worker(page)

    sock = await alice.connect()
    name = bob.user["username"]
    await sock.send_message(quiet, f"@{name} a mention in a muted room")
    await sock.send_message(group, f"@{name} could you review the deploy?")
    # Would replace the mention's notification (one per room) if it made one.
    await sock.send_message(group, "an ordinary message for everyone")
    await sock.send_message(dm, "a direct message")

    # Events arrive in order: once the DM's notification is there, all four were applied.
    shown = await wait_until(
        lambda: _two(page), what="the mention's and the DM's notifications", timeout=SLOW / 1000
    )
    assert [n["tag"] for n in shown] == [f"room-{group}", f"room-{dm}"], shown
    assert "could you review the deploy?" in shown[0]["body"]
    assert shown[1]["body"] == "a direct message"
    assert "notify-group" in shown[0]["title"]


async def _two(page: Page) -> list[dict[str, Any]] | None:
    found = await notifications_shown(page)
    return found if len(found) >= 2 else None


async def test_shortcodes_and_bundled_emoji(
    open_as: ContextFactory, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    room = (await new_room(alice, name="emoji"))["id"]
    _, page = await open_as(alice)
    await open_room(page, room)
    item = await send(page, "shipped :tada: but not `:tada:`", shown="shipped 🎉")
    await expect(item.get_by_test_id("message-body")).to_contain_text("shipped 🎉 but not :tada:")
    # The colour emoji font is ours, served from /assets/, and Chromium draws it in colour
    # (a font it cannot colour, e.g. OpenType-SVG only, would leave blank glyphs).
    coloured = await page.evaluate(
        """async () => {
          await document.fonts.load('32px "Noto Color Emoji"', '🎉')
          const canvas = document.createElement('canvas')
          canvas.width = canvas.height = 48
          const ctx = canvas.getContext('2d')
          ctx.font = '32px "Noto Color Emoji"'
          ctx.fillText('🎉', 4, 40)
          const d = ctx.getImageData(0, 0, 48, 48).data
          let n = 0
          for (let i = 0; i < d.length; i += 4) {
            if (d[i + 3] > 0 && Math.max(d[i], d[i + 1], d[i + 2])
                - Math.min(d[i], d[i + 1], d[i + 2]) > 60) n++
          }
          return n
        }"""
    )
    assert coloured > 50, coloured
    await expect(message(room_list(page), "shipped")).to_have_count(1)
    await page.evaluate("() => document.fonts.ready")
    await page.screenshot(path=screenshot_path("emoji-shortcode"))
    # Once the service worker controls the page, the subsets drawn are cached on first use
    # (not precached), so offline still draws the emoji already seen.
    await wait_for_service_worker(page)
    await page.reload()
    await expect(message(room_list(page), "shipped 🎉")).to_have_count(1, timeout=SLOW)
    await page.wait_for_function(
        """async () => {
          const cache = await caches.open('pychat-fonts')
          const keys = await cache.keys()
          return keys.some(r => /\\/assets\\/.*\\.woff2$/.test(r.url))
        }""",
        timeout=SLOW,
    )


async def test_search_from_sidebar_starts_without_room_filter(
    open_as: ContextFactory, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    room = (await new_room(alice, name="searchable"))["id"]
    _, page = await open_as(alice, path=f"/search?q=deploy&room={room}")
    select = page.get_by_test_id("search-room")
    await expect(select).to_have_value(str(room))
    await page.get_by_test_id("nav-search").click()
    await expect(page).to_have_url(f"{page.url.split('/search')[0]}/search")
    await expect(select).to_have_value("")
    await expect(page.get_by_test_id("search-input")).to_have_value("")
