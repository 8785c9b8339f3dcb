"""Small page helpers shared by the browser tests: locators and waits, never sleeps."""

from __future__ import annotations

from typing import Any

from playwright.async_api import BrowserContext, Locator, Page, WebSocketRoute, expect

from tests.client import Client

# Generous enough for a 2-core machine running a server and several pages, short enough
# that a real hang fails fast.
SLOW = 20_000


def messages(scope: Page | Locator) -> Locator:
    """Every stored message shown in `scope` (not pending outbox entries)."""
    return scope.locator("article[data-message-id]")


def page_of(scope: Page | Locator) -> Page:
    return scope if isinstance(scope, Page) else scope.page


def message(scope: Page | Locator, text: str) -> Locator:
    """The stored message whose rendered body holds `text`."""
    body = page_of(scope).get_by_test_id("message-body").filter(has_text=text)
    return messages(scope).filter(has=body)


def room_list(page: Page) -> Locator:
    """The room's timeline (not the thread panel's)."""
    return page.get_by_test_id("room-view").get_by_test_id("message-list")


async def open_room(page: Page, room_id: int) -> None:
    await page.get_by_test_id(f"room-link-{room_id}").click()
    view = page.get_by_test_id("room-view")
    await expect(view).to_have_attribute("data-room-id", str(room_id))


async def send(
    page: Page, text: str, *, shown: str | None = None, scope: Locator | None = None
) -> Locator:
    """Type into the composer of `scope` (the room view by default) and press Enter;
    returns the message once the server has stored it (found by `shown`, its rendered
    text, by default `text`)."""
    where = scope if scope is not None else page.get_by_test_id("room-view")
    box = where.get_by_test_id("composer-input")
    await box.fill(text)
    await box.press("Enter")
    await expect(box).to_have_value("")
    stored = message(where, shown if shown is not None else text)
    await expect(stored).to_have_count(1, timeout=SLOW)
    return stored


async def bodies(page: Page) -> list[str]:
    """The texts of the room view's stored messages, in order of display. (Text content:
    messages use `content-visibility: auto`, and innerText is empty for a skipped one.)"""
    return [
        text.strip()
        for text in await room_list(page).get_by_test_id("message-body").all_text_contents()
    ]


async def wait_for_service_worker(page: Page) -> None:
    await page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=SLOW)


async def hover_action(item: Locator, action: str) -> Locator:
    """A message's action button: shown on hover."""
    await item.hover()
    button = item.get_by_test_id(f"action-{action}")
    await expect(button).to_be_visible()
    return button


async def room_bodies(client: Client, room_id: int) -> list[str]:
    """The room's timeline over REST, oldest first (every page)."""
    out: list[dict[str, Any]] = []
    before = ""
    while True:
        page = await client.get(f"/api/rooms/{room_id}/messages?limit=200{before}")
        out = page["messages"] + out
        if not page["has_more"] or not page["messages"]:
            break
        before = f"&before={page['messages'][0]['id']}"
    return [m["body"] for m in out]


# page.wait_for_function does not await a returned promise (a promise is truthy), so the
# IndexedDB read runs in the background and the polled predicate only reads its last answer.
# It never opens the database before the app has created it (that would create it empty).
_IDB_PROBE = """([store, key, arg]) => {
  const probe = (window.__pychatProbe ??= { busy: false, found: false })
  if (!probe.busy && !probe.found) {
    probe.busy = true
    const read = async () => {
      const names = (await indexedDB.databases()).map((d) => d.name)
      if (!names.includes('pychat')) return undefined
      return await new Promise((resolve) => {
        const open = indexedDB.open('pychat')
        open.onerror = () => resolve(undefined)
        open.onsuccess = () => {
          const db = open.result
          try {
            const os = db.transaction(store).objectStore(store)
            const get = key === null ? os.getAll() : os.get(key)
            get.onsuccess = () => { db.close(); resolve(get.result) }
            get.onerror = () => { db.close(); resolve(undefined) }
          } catch (e) { db.close(); resolve(undefined) }
        }
      })
    }
    read().then((value) => { probe.found = !!(CHECK); probe.busy = false },
               () => { probe.busy = false })
  }
  if (probe.found) { delete window.__pychatProbe; return true }
  return false
}"""


async def _wait_in_idb(page: Page, store: str, key: object, check: str, arg: object) -> None:
    predicate = _IDB_PROBE.replace("CHECK", check)
    await page.wait_for_function(predicate, arg=[store, key, arg], polling=100, timeout=SLOW)


async def wait_until_cached(page: Page, room_id: int, text: str) -> None:
    """Until the app's IndexedDB history of the room holds a message with `text` (the app
    writes it shortly after a change, debounced), as it would be after a human pause."""
    await _wait_in_idb(
        page,
        "history",
        room_id,
        "value && value.messages.some((m) => m.body.includes(arg))",
        text,
    )


async def wait_until_outbox_holds(page: Page, count: int) -> None:
    """Until the app's IndexedDB outbox holds `count` entries (written right after Enter,
    committed a few milliseconds later)."""
    await _wait_in_idb(page, "outbox", None, "value && value.length === arg", count)


async def wait_until_read_is_kept(page: Page, room_id: int, message_id: int) -> None:
    """Until the app's IndexedDB snapshot keeps our marker of the room at `message_id`, not
    yet sent to the server (read offline)."""
    await _wait_in_idb(
        page,
        "meta",
        "snapshot",
        "value && value.unsentReads && value.unsentReads[arg[0]] === arg[1]",
        [room_id, message_id],
    )


class Network:
    """Takes a browser context off the network and back, for real.

    Chromium's offline emulation does not reliably cover a WebSocket opened at the moment it
    goes offline: the app reconnects on the `offline` event and that socket sometimes got
    through, so the app (rightly) said it was online. While off, new sockets are refused too.
    """

    def __init__(self, context: BrowserContext) -> None:
        self.context = context
        self.off = False
        self._routed = False

    async def go_offline(self) -> None:
        if not self._routed:
            # Sockets opened from now on pass through here (the current one is dropped by
            # the app itself when the browser reports `offline`).
            await self.context.route_web_socket(lambda url: True, self._socket)
            self._routed = True
        self.off = True
        await self.context.set_offline(True)

    async def go_online(self) -> None:
        self.off = False
        await self.context.set_offline(False)

    async def _socket(self, ws: WebSocketRoute) -> None:
        if self.off:
            await ws.close()
        else:
            ws.connect_to_server()


# -- notifications shown through the service worker ---------------------------------------
# Chromium's getNotifications() deletes from its store every notification the platform does
# not display yet, unless it was made after the read began: a read while one is being shown
# loses it for good (still on screen, never listed again). Polling a page's notifications
# while it showed a call's ring failed CI so; reading during shows lost 56 of 100 in a check
# here. So pages under test record the shows in flight (an init script), and a read waits
# for them to settle (a worker's too: evaluate TRACK_SHOWS in it). The app never reads while
# it shows (notifications/inTurn.ts).

TRACK_SHOWS = """
(() => {
  if (globalThis.__showing || typeof ServiceWorkerRegistration === 'undefined') return
  globalThis.__showing = new Set()
  const realShow = ServiceWorkerRegistration.prototype.showNotification
  ServiceWorkerRegistration.prototype.showNotification = function (...args) {
    const shown = realShow.apply(this, args)
    const done = () => globalThis.__showing.delete(shown)
    globalThis.__showing.add(shown)
    shown.then(done, done)
    return shown
  }
})();
"""

# A read's first line, in a page or in the worker (TRACK_SHOWS evaluated there).
SHOWS_SETTLED = (
    "while (globalThis.__showing?.size) await Promise.allSettled([...globalThis.__showing])"
)

_SHOWN = f"""async (tag) => {{
  {SHOWS_SETTLED}
  const registration = await navigator.serviceWorker.ready
  const shown = await registration.getNotifications(tag ? {{ tag }} : undefined)
  return shown.map((n) => ({{ title: n.title, body: n.body, tag: n.tag, data: n.data,
    actions: n.actions.map((a) => [a.action, a.type, a.title]) }}))
}}"""


async def notifications_shown(page: Page, tag: str | None = None) -> list[dict[str, Any]]:
    """The page's notifications shown through its service worker (all, or `tag`'s), read
    once the page's shows have settled (`TRACK_SHOWS` must be among its init scripts)."""
    found: list[dict[str, Any]] = await page.evaluate(_SHOWN, tag)
    return found
