"""Coming back from trouble, as issue 15's Firefox walk-through found it: a picture that
failed while offline loads once the connection returns, the offline banner's "Retry now"
is readable, and a screen share that cannot start says so in words, not the browser's."""

from __future__ import annotations

import io

import aiohttp
from PIL import Image
from playwright.async_api import Route, expect

from tests.client import Client
from tests.conftest import UserFactory, new_room
from tests.e2e.conftest import ContextFactory, OwnUserFactory
from tests.e2e.helpers import SLOW, Network, message, open_room, room_list
from tests.e2e.test_calls import call_between, dm_in_two_windows
from tests.server import Server

# The contrast of an element's text against the first opaque background behind it (WCAG).
CONTRAST = """(el) => {
  const rgb = (c) => c.match(/[\\d.]+/g).map(Number)
  const lum = ([r, g, b]) => [r, g, b].map((v) => { v /= 255
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4 })
    .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0)
  let back = el
  while (back && (rgb(getComputedStyle(back).backgroundColor)[3] ?? 1) === 0) {
    back = back.parentElement
  }
  const fg = lum(rgb(getComputedStyle(el).color))
  const bg = lum(rgb(back ? getComputedStyle(back).backgroundColor : 'rgb(255, 255, 255)'))
  return (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05)
}"""
LOADED = "(img) => img.complete && img.naturalWidth > 0"
BROKEN = "(img) => img.complete && img.naturalWidth === 0"


async def upload_png(client: Client) -> int:
    data = io.BytesIO()
    Image.new("RGB", (200, 120), (40, 160, 90)).save(data, "PNG")
    form = aiohttp.FormData()
    form.add_field("file", data.getvalue(), filename="offline.png", content_type="image/png")
    async with client.http.post(client.base_url + "/api/uploads", data=form) as resp:
        assert resp.status in (200, 201), await resp.text()
        return int((await resp.json())["upload"]["id"])


async def test_a_picture_that_failed_offline_loads_after_reconnecting(
    open_as: ContextFactory, make_user: UserFactory
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    rid = (await new_room(alice, bob, name="pictures-back"))["id"]
    context, page = await open_as(alice)
    await open_room(page, rid)

    # Alice's network is going: the picture's request fails, then the socket drops.
    network_down = True

    async def pictures(route: Route) -> None:
        if network_down:
            await route.abort("internetdisconnected")
        else:
            await route.continue_()

    await context.route("**/api/uploads/**", pictures)
    sock = await bob.connect()
    await sock.send_message(rid, "look at this", attachments=[await upload_png(bob)])
    img = message(room_list(page), "look at this").get_by_test_id("image-preview").locator("img")
    await expect(img).to_have_count(1, timeout=SLOW)
    await page.wait_for_function(BROKEN, arg=await img.element_handle(), timeout=SLOW)
    network = Network(context)
    await network.go_offline()
    await expect(page.get_by_test_id("offline-banner")).to_be_visible()

    # Back online: the picture is asked for again and shows, without a reload.
    network_down = False
    await network.go_online()
    await expect(page.get_by_test_id("offline-banner")).to_have_count(0, timeout=SLOW)
    await expect(img).to_have_count(1)
    await page.wait_for_function(LOADED, arg=await img.element_handle(), timeout=SLOW)


async def test_retry_now_is_readable_on_the_offline_banner(
    open_as: ContextFactory, own_server: Server, make_own_user: OwnUserFactory
) -> None:
    alice = await make_own_user("alice")
    _, page = await open_as(alice, server=own_server)
    await expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "online")

    own_server.stop()  # the browser is online, the server is away
    banner = page.get_by_test_id("offline-banner")
    await expect(banner).to_contain_text("Cannot reach the server", timeout=SLOW)
    retry = banner.get_by_role("button", name="Retry now")
    ratio = float(await retry.evaluate(CONTRAST))
    assert ratio >= 4.5, f"'Retry now' has a contrast of {ratio:.2f}:1"

    own_server.start()
    # The app's own backoff may reconnect before a click lands (the banner then goes away
    # under the pointer), so press the button only while it is still there. That the press
    # skips the backoff wait is proven deterministically in socket.test.ts.
    await retry.evaluate_all("buttons => buttons.forEach((b) => b.click())")
    await expect(banner).to_have_count(0, timeout=SLOW)


# The browser refuses the capture the way Firefox and Chromium do when the system will not
# give them the screen; the app must not show that exception's own text.
REFUSE_SCREEN = """navigator.mediaDevices.getDisplayMedia = () =>
  Promise.reject(new DOMException('Could not start video source', 'NotReadableError'))"""


async def test_a_screen_share_that_cannot_start_says_so_in_words(
    open_as: ContextFactory, make_user: UserFactory
) -> None:
    _, _, dm, alice_page, bob_page = await dm_in_two_windows(open_as, make_user)
    await alice_page.context.add_init_script(REFUSE_SCREEN)
    await alice_page.reload()
    # The reloaded page's socket is up and caught up before the call starts (a loaded CI
    # machine once clicked "Call" while it was still connecting).
    connection = alice_page.get_by_test_id("connection")
    await expect(connection).to_have_attribute("data-state", "online", timeout=SLOW)
    await expect(connection).to_have_attribute("data-caught-up", "yes", timeout=SLOW)
    await call_between(alice_page, bob_page, dm, video=False)

    await alice_page.get_by_test_id("call-screen").click()
    shown = alice_page.get_by_test_id("call-panel").get_by_role("alert")
    await expect(shown).to_have_text(
        "Your screen could not be shared: another program may be using it, or the system refused."
    )
    await expect(alice_page.get_by_test_id("call-screen")).to_have_attribute(
        "aria-pressed", "false"
    )
    await alice_page.get_by_test_id("call-leave").click()
