"""A room opened cold shows its messages before the socket is open (issue 15: the first
screen's requests leave together at boot instead of one after another), and what happens
meanwhile is neither missed nor shown twice once the socket says hello: a message sent and
an edit made while it was held reach the screen once, the early page is settled."""

from __future__ import annotations

import asyncio
from typing import Any

from playwright.async_api import Page, Route, WebSocketRoute, expect

from tests.conftest import UserFactory, new_room
from tests.e2e.conftest import ContextFactory
from tests.e2e.helpers import SLOW, message, messages, room_list
from tests.waiting import wait_until

PHONE = {"width": 390, "height": 844}
FIRST_PAGE = 50  # the app's first history page (boot/bootFetches.ts)
# Where the context starts: a page of the server that is not the app, so that the app's
# first visit (nothing in IndexedDB: the early paint) is the goto under test.
NO_APP = "/robots.txt"


async def test_a_room_shows_its_messages_before_the_socket_and_misses_nothing_after(
    open_as: ContextFactory, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    room = await new_room(alice, kind="channel")
    sock = await alice.connect()
    sent: list[dict[str, object]] = []
    for start in range(0, 60, 10):  # in bursts: the server batches their writes
        burst = (
            sock.send_message(room["id"], f"Line {i}: the plan") for i in range(start, start + 10)
        )
        sent += await asyncio.gather(*burst)
    newest_id = max(int(str(m["id"])) for m in sent)

    _context, page = await open_as(alice, viewport=PHONE, path=NO_APP)
    release = asyncio.Event()
    held = asyncio.Event()

    async def hold_the_socket(ws: WebSocketRoute) -> None:
        held.set()
        await release.wait()  # the page's socket stays connecting until then
        ws.connect_to_server()

    await page.route_web_socket("**/api/ws", hold_the_socket)
    await page.goto(f"/rooms/{room['id']}")

    timeline = room_list(page)
    await expect(message(timeline, "Line 59:")).to_be_visible(timeout=SLOW)
    await expect(messages(timeline)).to_have_count(FIRST_PAGE, timeout=SLOW)
    assert held.is_set() and not release.is_set()

    # While the socket is held: a new message and an edit the early page does not have.
    revised = "Line 59: the plan, revised"
    await sock.ok({"type": "message.edit", "message": newest_id, "body": revised})
    await sock.send_message(room["id"], "Sent while the socket was held")
    release.set()

    await expect(message(timeline, "Sent while the socket was held")).to_have_count(1, timeout=SLOW)
    await expect(message(timeline, "the plan, revised")).to_have_count(1, timeout=SLOW)
    # The settled newest page: Line 10 fell out of it, nothing shown twice.
    await expect(messages(timeline)).to_have_count(FIRST_PAGE, timeout=SLOW)
    await expect(message(timeline, "Line 10:")).to_have_count(0, timeout=SLOW)

    # Caught up: live messages arrive once.
    await sock.send_message(room["id"], "Live after the catch-up")
    await expect(message(timeline, "Live after the catch-up")).to_have_count(1, timeout=SLOW)
    await expect(messages(timeline)).to_have_count(FIRST_PAGE + 1, timeout=SLOW)


async def test_a_room_opened_before_the_hello_loads_when_the_hello_cuts_its_page_off(
    open_as: ContextFactory, make_user: UserFactory
) -> None:
    """A room opened from the early list while the socket is not open yet: its page is on
    its way when the hello's reload forgets held history. It loads again and shows; it
    stayed at "Loading…" (its load flag outlived the reload: test_p2p_files under load)."""
    alice = await make_user("alice")
    first, other = await new_room(alice, kind="channel"), await new_room(alice, kind="channel")
    sock = await alice.connect()
    await sock.send_message(other["id"], "Waiting in the other room")

    _context, page = await open_as(alice, path=NO_APP)
    release = asyncio.Event()

    async def hold_the_socket(ws: WebSocketRoute) -> None:
        await release.wait()
        ws.connect_to_server()

    cut_off = asyncio.Event()
    asked: list[str] = []

    async def hold_the_first_page(route: Route) -> None:
        asked.append(route.request.url)
        if len(asked) == 1:
            await cut_off.wait()  # answered only once the hello's reload is done
        await route.continue_()

    await page.route_web_socket("**/api/ws", hold_the_socket)
    await page.route(f"**/api/rooms/{other['id']}/messages?*", hold_the_first_page)
    await page.goto(f"/rooms/{first['id']}")
    await page.get_by_test_id(f"room-link-{other['id']}").click()  # from the early list
    await expect(page.get_by_test_id("room-view")).to_have_attribute(
        "data-room-id", str(other["id"])
    )
    await wait_until(lambda: asked, what="the room's page asked for", timeout=SLOW / 1000)
    assert len(asked) == 1 and not release.is_set()

    # Caught up (her notification settings are asked for then): the reload is done.
    async with page.expect_request("**/api/me/notifications"):
        release.set()
    cut_off.set()
    await expect(message(room_list(page), "Waiting in the other room")).to_be_visible(timeout=SLOW)


async def a_room_with_a_message(
    open_as: ContextFactory, make_user: UserFactory, text: str
) -> tuple[dict[str, Any], Page]:
    """Alice's channel holding one message, and her page not yet in the app (NO_APP)."""
    alice = await make_user("alice")
    room = await new_room(alice, kind="channel")
    sock = await alice.connect()
    await sock.send_message(room["id"], text)
    _context, page = await open_as(alice, viewport=PHONE, path=NO_APP)
    return room, page


async def test_the_first_screen_takes_the_answers_the_browser_asked_for_with_the_page(
    open_as: ContextFactory, make_user: UserFactory
) -> None:
    """The page's preloads (web/boot_preload.py) are the app's boot requests: the browser
    sends them with the page, before the app's code has arrived, and the app takes those
    answers instead of asking again (a preload it left unused would be a request wasted)."""
    room, page = await a_room_with_a_message(open_as, make_user, "Here before the page opened")
    release = asyncio.Event()

    async def hold_the_socket(ws: WebSocketRoute) -> None:
        await release.wait()  # no hello: nothing is asked again for the catch-up
        ws.connect_to_server()

    asked: list[str] = []  # the GETs that reached the network
    page.on(
        "request",
        lambda request: (
            asked.append(request.url.split("/", 3)[-1]) if request.method == "GET" else None
        ),
    )
    await page.route_web_socket("**/api/ws", hold_the_socket)
    await page.goto(f"/rooms/{room['id']}")
    await expect(message(room_list(page), "Here before the page opened")).to_be_visible(
        timeout=SLOW
    )
    kinds = await page.evaluate(
        """() => performance.getEntriesByType('resource')
            .filter((e) => new URL(e.name).pathname.startsWith('/api/'))
            .map((e) => [new URL(e.name).pathname + new URL(e.name).search, e.initiatorType])"""
    )
    release.set()
    boot = {
        "/api/me",
        "/api/users",
        "/api/rooms",
        f"/api/rooms/{room['id']}/messages?limit={FIRST_PAGE}",
    }
    for url in boot:
        # (resource timing has no method: a PATCH of /api/me may be listed too)
        assert next(kind for name, kind in kinds if name == url) == "link", (url, kinds)
        assert asked.count(url.lstrip("/")) == 1, (url, asked)


async def test_a_page_says_pychat_is_starting_until_its_first_page_is_ready(
    open_as: ContextFactory, make_user: UserFactory
) -> None:
    """Before the app's code has run, and while it waits for the server, the page is not
    blank: it says Pychat is starting, and that goes once the room is drawn."""
    room, page = await a_room_with_a_message(open_as, make_user, "Ready when you are")
    release = asyncio.Event()

    async def hold_who_is_signed_in(route: Route) -> None:
        await release.wait()
        await route.continue_()

    # The preload and the app's own request alike (the app asks again when none is taken).
    await page.route("**/api/me", hold_who_is_signed_in)
    await page.goto(f"/rooms/{room['id']}", wait_until="commit")
    starting = page.get_by_role("status").filter(has_text="Pychat is starting")
    await expect(starting).to_be_visible(timeout=SLOW)
    release.set()
    await expect(message(room_list(page), "Ready when you are")).to_be_visible(timeout=SLOW)
    await expect(starting).to_have_count(0)
