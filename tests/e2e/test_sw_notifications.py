"""Notifications through the service worker (issue 16): a hidden tab's notification is the
worker's (`registration.getNotifications()`), one per room, replaced by the next message;
reading on another device closes it; its click opens the thread; "Mark as read" and "Reply"
go through the HTTP API; the badge counts; a Web Push delivered by CDP to a worker with no
page shows the contract's payload, and a "read" push closes it."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from playwright.async_api import BrowserContext, Page, WebSocketRoute, Worker, expect

from tests.client import Client
from tests.conftest import UserFactory, new_room
from tests.e2e.conftest import ContextFactory
from tests.e2e.helpers import (
    SHOWS_SETTLED,
    SLOW,
    TRACK_SHOWS,
    notifications_shown,
    open_room,
    wait_for_service_worker,
)
from tests.waiting import wait_until

# Runs before the app: the tab reports itself hidden (as a phone's app in the background),
# notifications are on in this browser, the app badge's calls are recorded (the real ones
# still run), and so are the notifications it is still showing (helpers.TRACK_SHOWS).
PHONE = """
(() => {
  if (!location.protocol.startsWith('http')) return  // about:blank, before the app's page
  Object.defineProperty(Document.prototype, 'visibilityState', {
    configurable: true, get: () => 'hidden' })
  Object.defineProperty(Document.prototype, 'hidden', { configurable: true, get: () => true })
  localStorage.setItem('pychat.preferences', JSON.stringify({ notifications: true }))
  window.__badges = []
  const realSet = Navigator.prototype.setAppBadge
  const realClear = Navigator.prototype.clearAppBadge
  Navigator.prototype.setAppBadge = function (n) {
    window.__badges.push(n ?? 0)
    return realSet ? realSet.call(this, n) : Promise.resolve()
  }
  Navigator.prototype.clearAppBadge = function () {
    window.__badges.push(0)
    return realClear ? realClear.call(this) : Promise.resolve()
  }
})()
"""


# A click on a notification, as the browser gives it to the worker. Nothing can click a
# headless browser's notification, so the test dispatches the event the platform would; its
# waitUntil (refused on an untrusted event) is kept so the test waits for what it started.
CLICK = """async ([tag, action, reply]) => {
  const [notification] = await registration.getNotifications({ tag })
  if (!notification) throw new Error('no notification ' + tag)
  const event = new NotificationEvent('notificationclick', { notification, action, reply })
  const started = []
  Object.defineProperty(event, 'waitUntil', { value: (p) => started.push(p) })
  self.dispatchEvent(event)
  await Promise.allSettled(started)
  return started.length
}"""


async def shown(page: Page, tag: str | None = None) -> list[dict[str, Any]]:
    return await notifications_shown(page, tag)


async def badges(page: Page) -> list[int]:
    found: list[int] = await page.evaluate("() => window.__badges")
    return found


def worker(context: BrowserContext) -> Worker:
    """The app's service worker as it runs now (a stopped one comes back as a new Worker)."""
    assert context.service_workers, "no service worker running"
    return context.service_workers[-1]


async def click(context: BrowserContext, tag: str, action: str = "", reply: str = "") -> None:
    started = await worker(context).evaluate(CLICK, [tag, action, reply])
    assert started == 1, "the worker's notificationclick handler did not run"


async def open_phone(open_as: ContextFactory, user: Client) -> tuple[BrowserContext, Page]:
    context, page = await open_as(user, init_script=TRACK_SHOWS + PHONE)
    await context.grant_permissions(["notifications"])
    await page.reload()
    await wait_for_service_worker(page)
    await expect(page.get_by_test_id("connection")).to_have_attribute(
        "data-caught-up", "yes", timeout=SLOW
    )
    assert await page.evaluate("() => document.visibilityState") == "hidden"
    return context, page


async def test_notifications_come_through_the_worker_and_go_when_read_anywhere(
    open_as: ContextFactory, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    group = (await new_room(alice, bob, name="sw-group"))["id"]
    dm = (await new_room(alice, bob, kind="direct"))["id"]
    phone_context, phone = await open_phone(open_as, bob)
    _, desktop = await open_as(bob)  # bob's other device, in front of him
    sock = await alice.connect()
    name = bob.user["username"]

    # Two mentions in one room: one notification, the newer replacing the older.
    await sock.send_message(group, f"@{name} first look at the deploy?")
    second = await sock.send_message(group, f"@{name} second look, please")
    tag = f"room-{group}"
    await wait_until(
        lambda: _bodies_are(phone, tag, [f"@{name} second look, please"]),
        what="the room's notification shows the newer message only",
    )
    (note,) = await shown(phone, tag)
    assert "sw-group" in note["title"], note
    assert note["data"] == {
        "room": group,
        "thread": None,
        "message": second["id"],
        "url": f"/rooms/{group}?message={second['id']}",
    }
    assert note["actions"] == [["reply", "text", "Reply"], ["read", "button", "Mark as read"]]
    # The badge counts the unread messages (the tab title's number).
    await wait_until(lambda: _last_badge_is(phone, 2), what="the badge says 2")

    # Read on the desktop: the phone's notification goes, and so does its badge.
    await open_room(desktop, group)
    await wait_until(lambda: _none_shown(phone, tag), what="reading elsewhere closes it")
    await wait_until(lambda: _last_badge_is(phone, 0), what="the badge is cleared")

    # A mention in a thread: its click routes the (background) app to the thread.
    root = await sock.send_message(group, "release notes draft")
    reply = await sock.send_message(group, f"@{name} can you check this?", thread=root["id"])
    await wait_until(
        lambda: _bodies_are(phone, tag, [f"@{name} can you check this?"]),
        what="the thread reply's notification",
    )
    (note,) = await shown(phone, tag)
    assert note["data"]["thread"] == root["id"]
    assert note["data"]["url"] == f"/rooms/{group}?message={reply['id']}&thread={root['id']}"
    await click(phone_context, tag)
    origin = "/".join(phone.url.split("/", 3)[:3])
    await expect(phone).to_have_url(origin + note["data"]["url"], timeout=SLOW)
    panel = phone.get_by_test_id("thread-panel")
    await expect(panel.get_by_text("can you check this?")).to_be_visible(timeout=SLOW)
    assert await shown(phone, tag) == []

    # A DM: "Mark as read" moves bob's marker on the server (alice sees it).
    dm_tag = f"room-{dm}"
    lunch = await sock.send_message(dm, "lunch at noon?")
    await wait_until(lambda: _bodies_are(phone, dm_tag, ["lunch at noon?"]), what="the DM's")
    await click(phone_context, dm_tag, "read")
    read = await sock.event("read", room=dm)
    assert read["data"] == {"user": bob.id, "message": lunch["id"]}
    assert await shown(phone, dm_tag) == []

    # "Reply" from the notification: the answer is sent with bob's session.
    await sock.send_message(dm, "and coffee after?")
    await wait_until(lambda: _bodies_are(phone, dm_tag, ["and coffee after?"]), what="again")
    await click(phone_context, dm_tag, "reply", "on my way")
    answer = await sock.wait_for(
        lambda f: f.get("kind") == "message.new" and f["data"]["message"]["body"] == "on my way"
    )
    assert answer["data"]["message"]["author"] == bob.id
    assert answer["data"]["message"]["room"] == dm


async def _bodies_are(page: Page, tag: str, wanted: list[str]) -> bool:
    return [n["body"] for n in await shown(page, tag)] == wanted


async def _none_shown(page: Page, tag: str) -> bool:
    return await shown(page, tag) == []


async def _last_badge_is(page: Page, count: int) -> bool:
    seen = await badges(page)
    return bool(seen) and seen[-1] == count


async def test_a_push_shows_with_no_page_open_and_a_read_push_closes_it(
    open_as: ContextFactory, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    dm = (await new_room(alice, bob, kind="direct"))["id"]
    sent = await (await alice.connect()).send_message(dm, "the build is green")
    context, page = await open_as(bob)
    await context.grant_permissions(["notifications"])
    await wait_for_service_worker(page)
    origin = page.url.split("/", 3)
    origin_url = f"{origin[0]}//{origin[2]}"

    # No window of the app is left: the push wakes the worker alone.
    blank = await context.new_page()
    await page.close()
    cdp = await context.new_cdp_session(blank)
    registrations: list[dict[str, Any]] = []
    cdp.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda e: registrations.extend(e["registrations"]),
    )
    await cdp.send("ServiceWorker.enable")
    await wait_until(lambda: registrations, what="the worker's registration is listed")
    registration_id = next(
        r["registrationId"] for r in registrations if r["scopeURL"] == origin_url + "/"
    )

    await worker(context).evaluate(TRACK_SHOWS)  # the worker lives on: DevTools holds it

    async def push(payload: dict[str, Any]) -> None:
        await cdp.send(
            "ServiceWorker.deliverPushMessage",
            {"origin": origin_url, "registrationId": registration_id, "data": json.dumps(payload)},
        )

    tag = f"room-{dm}"
    url = f"/rooms/{dm}?message={sent['id']}"
    message = {
        "v": 1,
        "kind": "message",
        "room": dm,
        "thread": None,
        "message": sent["id"],
        "title": alice.user["username"],
        "body": "the build is green",
        "tag": tag,
        "url": url,
        "unread": 1,
    }
    await push(message)

    async def in_worker() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = await worker(context).evaluate(
            f"""async (tag) => {{
                {SHOWS_SETTLED}
                return (await registration.getNotifications({{ tag }}))
                  .map((n) => ({{ title: n.title, body: n.body, data: n.data,
                                  renotify: n.renotify, actions: n.actions.length }}))
            }}""",
            tag,
        )
        return found

    (note,) = await wait_until(in_worker, what="the pushed message shows")
    assert note == {
        "title": alice.user["username"],
        "body": "the build is green",
        "data": {"room": dm, "thread": None, "message": sent["id"], "url": url},
        "renotify": True,
        "actions": 2,
    }
    assert not [p for p in context.pages if p.url.startswith(origin_url)], "no app window"
    # The same message pushed again (a hidden tab showed it first): replaced without a sound.
    await push(message)
    await wait_until(
        lambda: _first_is(in_worker, renotify=False), what="the same message shown silently"
    )

    await push({"v": 1, "kind": "read", "room": dm, "tag": tag, "unread": 0})
    await wait_until(lambda: _nothing(in_worker), what="a read push closes it")


async def _first_is(read: Any, **fields: Any) -> bool:
    found = await read()
    return bool(found) and all(found[0][k] == v for k, v in fields.items())


async def _nothing(read: Any) -> bool:
    return await read() == []


async def test_an_incoming_call_rings_through_the_worker_and_stops_when_the_caller_hangs_up(
    open_as: ContextFactory, make_user: UserFactory
) -> None:
    # Android Chrome has no `new Notification()` in a page: the ring of a hidden tab must be
    # the worker's, kept until answered, and gone on every device when the ring ends.
    alice, bob = await make_user("alice"), await make_user("bob")
    dm = (await new_room(alice, bob, kind="direct"))["id"]
    _, alice_page = await open_as(alice)
    _, phone = await open_phone(open_as, bob)

    await open_room(alice_page, dm)
    await alice_page.get_by_test_id("room-view").get_by_test_id("call-start").click()
    await expect(phone.get_by_test_id("ring-overlay")).to_be_visible(timeout=SLOW)

    async def ringing() -> list[dict[str, Any]]:
        return [n for n in await shown(phone) if str(n["tag"]).startswith("call-")]

    rings = await wait_until(ringing, what="the ring notification", timeout=SLOW / 1000)
    assert rings[0]["title"] == f"{alice.user['display_name'] or alice.user['username']} is calling"
    assert rings[0]["data"] == {"url": f"/rooms/{dm}"}

    await alice_page.get_by_test_id("call-leave").click()
    await expect(phone.get_by_test_id("ring-overlay")).to_have_count(0, timeout=SLOW)
    await wait_until(lambda: _no_ring(phone), what="the ring closed", timeout=SLOW / 1000)


async def _no_ring(page: Page) -> bool:
    return not [n for n in await shown(page) if str(n["tag"]).startswith("call-")]


async def test_her_settings_decide_what_notifies_on_the_phone(
    open_as: ContextFactory, make_user: UserFactory
) -> None:
    # Each setting is changed on the server (as from another device) while the phone is in
    # the background; the phone follows live. A message that must not notify is sent before
    # one that must: once the second shows, the first had its chance.
    alice, bob = await make_user("alice"), await make_user("bob")
    dm = (await new_room(alice, bob, kind="direct"))["id"]
    rooms = [(await new_room(alice, bob, name=f"notify-{n}"))["id"] for n in range(5)]
    _, phone = await open_phone(open_as, bob)
    sock = await alice.connect()
    name = bob.user["username"]

    async def change(path: str, body: dict[str, Any]) -> None:
        status, payload = await bob.call("PUT", path, body)
        assert status == 200, payload

    async def notifies(room: int, text: str) -> None:
        await sock.send_message(room, text)
        await wait_until(
            lambda: _bodies_are(phone, f"room-{room}", [text]), what=f"notified of {text!r}"
        )

    async def stays_quiet(room: int) -> None:
        assert await shown(phone, f"room-{room}") == [], f"room {room} notified"

    # The DM set to "nothing": silent, while a mention elsewhere still notifies.
    await change(f"/api/rooms/{dm}/notifications", {"level": "nothing"})
    await sock.send_message(dm, "lunch?")
    await notifies(rooms[0], f"@{name} the build is green")
    await stays_quiet(dm)

    # Snoozed for an hour: nothing; the snooze lifted: notified again.
    await change("/api/me/notifications", {"snooze": {"minutes": 60}})
    await sock.send_message(rooms[1], f"@{name} during the snooze")
    await change("/api/me/notifications", {"snooze": None})
    await notifies(rooms[2], f"@{name} after the snooze")
    await stays_quiet(rooms[1])

    # Quiet hours around now (the browser's zone and hers are UTC here), then none.
    now = datetime.now(UTC)
    start, end = now - timedelta(hours=1), now + timedelta(hours=1)
    await change(
        "/api/me/notifications", {"dnd_start": f"{start:%H:%M}", "dnd_end": f"{end:%H:%M}"}
    )
    await sock.send_message(rooms[3], f"@{name} in the quiet hours")
    await change("/api/me/notifications", {"dnd_start": None, "dnd_end": None})
    # Hidden text: who and where, not what.
    await change("/api/me/notifications", {"hide_text": True})
    await sock.send_message(rooms[4], f"@{name} the secret plan")
    await wait_until(lambda: _bodies_are(phone, f"room-{rooms[4]}", [""]), what="a textless one")
    await stays_quiet(rooms[3])


async def test_a_message_missed_while_the_phone_was_cut_off_still_notifies(
    open_as: ContextFactory, make_user: UserFactory
) -> None:
    # A phone's Wi-Fi drops; a DM arrives meanwhile; when the socket is back the message
    # comes by replay, not live, and must still notify (it is recent and unread).
    alice, bob = await make_user("alice"), await make_user("bob")
    dm = (await new_room(alice, bob, kind="direct"))["id"]
    back = asyncio.Event()
    back.set()
    sockets: list[WebSocketRoute] = []

    async def through(ws: WebSocketRoute) -> None:
        await back.wait()  # while cut off, a new socket waits here, unanswered
        ws.connect_to_server()
        sockets.append(ws)

    context, phone = await open_phone(open_as, bob)
    await context.route_web_socket(re.compile(r".*/api/ws$"), through)
    await phone.reload()  # its socket now goes through `through`
    await expect(phone.get_by_test_id("connection")).to_have_attribute(
        "data-caught-up", "yes", timeout=SLOW
    )
    assert sockets, "the phone's socket did not go through the route"
    sock = await alice.connect()

    back.clear()
    for ws in sockets:
        await ws.close(code=1006)  # the network went away under the open socket
    await expect(phone.get_by_test_id("connection")).not_to_have_attribute(
        "data-state", "online", timeout=SLOW
    )
    await sock.send_message(dm, "are you there?")
    back.set()
    await wait_until(
        lambda: _bodies_are(phone, f"room-{dm}", ["are you there?"]),
        what="the replayed DM's notification",
        timeout=SLOW / 1000,
    )
