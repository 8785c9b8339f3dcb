"""A room opens cheaply (issue 15, fast on a Pi over Wi-Fi): the first frame holds only the
rows that fill the screen, newest at the bottom; the rest of the page is added a few rows
at a time without moving what is on screen, and scrolling up still reaches older history.
Who is signed in is asked once per load."""

from __future__ import annotations

import asyncio

from playwright.async_api import expect

from tests.conftest import UserFactory, new_room
from tests.e2e.conftest import ContextFactory
from tests.e2e.helpers import SLOW, message, messages, room_list
from tests.waiting import wait_until

PHONE = {"width": 390, "height": 844}
FIRST_PAGE = 50  # the app's first history page (stores/messages.ts)

# What the first painted frame with messages held: rows in the DOM, how many screens tall
# they are, whether they fill the list, and whether the newest is on screen.
RECORD_FIRST_FRAME = """
(() => {
  const rows = () => document.querySelectorAll('article[data-message-id]')
  const watcher = new MutationObserver(() => {
    if (rows().length === 0 || window.__firstFrame !== undefined) return
    window.__firstFrame = null
    watcher.disconnect()
    requestAnimationFrame(() => {
      const list = document.querySelector('[data-testid="room-view"] [data-testid="message-list"]')
      const all = rows()
      const last = all[all.length - 1].getBoundingClientRect()
      const box = list.getBoundingClientRect()
      window.__firstFrame = {
        rows: all.length,
        screens: list.scrollHeight / list.clientHeight,
        filled: list.scrollHeight > list.clientHeight,
        newestInView: last.top >= box.top - 1 && last.top < box.bottom,
      }
    })
  })
  watcher.observe(document, { childList: true, subtree: true })
})()
"""


async def test_a_room_paints_its_screenful_first_then_the_rest_without_moving(
    open_as: ContextFactory, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    room = await new_room(alice, kind="channel")
    sock = await alice.connect()
    for start in range(0, 70, 10):  # in bursts: the server batches their writes
        await asyncio.gather(
            *(
                sock.send_message(
                    room["id"],
                    f"Line {i}: **the quarterly plan**, see `plan.md` and www.example.org",
                )
                for i in range(start, start + 10)
            )
        )

    context, page = await open_as(alice, viewport=PHONE)
    await context.add_init_script(RECORD_FIRST_FRAME)
    asked: list[str] = []
    page.on(
        "request",
        lambda r: asked.append(r.url) if r.method == "GET" and r.url.endswith("/api/me") else None,
    )
    await page.goto(f"/rooms/{room['id']}")

    timeline = room_list(page)
    await expect(messages(timeline)).to_have_count(FIRST_PAGE, timeout=SLOW)
    first = await page.wait_for_function("() => window.__firstFrame", timeout=SLOW)
    frame = await first.json_value()
    assert frame["filled"] and frame["newestInView"], frame
    # A screen and a margin, not the whole page of history. (Rows off screen count at
    # content-visibility's 64px guess until drawn: the first page is five screens by it.)
    assert frame["rows"] < FIRST_PAGE and frame["screens"] < 3, frame

    # Adding the rows above kept the newest message where it was.
    newest = message(timeline, "Line 69:")
    await expect(newest).to_be_in_viewport()
    assert await messages(timeline).last.get_attribute("data-message-id") == str(
        await newest.get_attribute("data-message-id")
    )

    # Scrolling up reaches the page's oldest rows, then the older page.
    async def scrolled_to_the_first() -> bool:
        await timeline.evaluate("el => { el.scrollTop = 0 }")
        return await message(timeline, "Line 0:").count() > 0

    await wait_until(scrolled_to_the_first, what="the room's first message is shown")
    # The router's answer served the first sync's reload too (it asked again moments later).
    assert len(asked) == 1, asked


# Every layout shift of the page from its start (the Layout Instability API).
RECORD_SHIFTS = """
window.__shifts = []
new PerformanceObserver((list) => {
  for (const shift of list.getEntries()) {
    if (!shift.hadRecentInput) window.__shifts.push(shift.value)
  }
}).observe({ type: 'layout-shift', buffered: true })
"""


async def test_nothing_on_screen_moves_while_a_room_opens(
    open_as: ContextFactory, make_user: UserFactory
) -> None:
    """The room opens in several tasks (the shell, then the sidebar, the bodies, the rows,
    the rest of the page in idle moments, an older page on a tall screen): what is drawn
    stays where it is drawn, on a desktop and on a phone (Lighthouse's layout shift, a
    quarter of its score)."""
    alice = await make_user("alice")
    room = await new_room(alice, kind="channel")
    sock = await alice.connect()
    # Four pages: once its first page is all shown, a desktop's window loads an older one.
    for start in range(0, 200, 20):  # in bursts: the server batches their writes
        await asyncio.gather(
            *(
                sock.send_message(room["id"], f"Line {i}: **the plan**, see `plan.md`")
                for i in range(start, start + 20)
            )
        )
    for viewport in ({"width": 1350, "height": 940}, PHONE):  # Lighthouse's desktop, a phone
        context, page = await open_as(alice, viewport=viewport)
        await context.add_init_script(RECORD_SHIFTS)
        await page.goto(f"/rooms/{room['id']}")
        timeline = room_list(page)
        await expect(messages(timeline).first).to_be_attached(timeout=SLOW)
        await expect(page.get_by_test_id("current-user")).to_be_attached(timeout=SLOW)
        # Settled: the first page all drawn, and on the desktop an older page joined above.
        await expect(messages(timeline)).to_have_count(
            FIRST_PAGE if viewport is PHONE else 100, timeout=SLOW
        )
        shifts = await page.evaluate("window.__shifts")
        assert sum(shifts) < 0.01, (viewport, shifts)
        await context.close()
