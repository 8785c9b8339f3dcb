"""The phone (390x844) and discoverability (issue 15): the room header keeps the room's name
with its secondary actions in a keyboard-usable menu, no header control wraps, tapping a
message shows its actions without moving the row, and every icon button has a tooltip that
is its accessible name."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Locator, Page, expect

from tests.conftest import UserFactory, new_room
from tests.e2e.conftest import ContextFactory
from tests.e2e.helpers import SLOW, message, room_list
from tests.waiting import wait_until

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


async def box(locator: Locator) -> dict[str, float]:
    found = await locator.bounding_box()
    assert found is not None, f"{locator} has no box"
    return dict(found)


async def touch_screen(page: Page) -> None:
    """What a phone's browser reports: no hover, a coarse pointer (the CSS of message
    actions depends on it)."""
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("Emulation.setTouchEmulationEnabled", {"enabled": True, "maxTouchPoints": 5})
    await page.wait_for_function("matchMedia('(hover: none)').matches", timeout=SLOW)


# Each visible control of the header: its height as laid out, and as it would be on one line.
WRAPS = """head => [...head.querySelectorAll('button, a')].filter(el => el.offsetParent !== null)
  .map(el => {
    const laid = el.getBoundingClientRect()
    const before = el.style.whiteSpace
    el.style.whiteSpace = 'nowrap'
    const single = el.getBoundingClientRect().height
    el.style.whiteSpace = before
    return {name: el.getAttribute('aria-label') || el.textContent.trim(), height: laid.height,
            single, left: laid.left, right: laid.right}
  })"""


async def test_phone_header_keeps_the_name_and_a_keyboard_menu(
    open_as: ContextFactory, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    name = f"quarterly-planning-and-budget-review-{alice.id}"
    room = await new_room(alice, bob, kind="channel", name=name)
    _, page = await open_as(alice, viewport=PHONE, path=f"/rooms/{room['id']}")
    view = page.get_by_test_id("room-view")
    await expect(view).to_have_attribute("data-room-id", str(room["id"]), timeout=SLOW)
    head = view.locator("header.room-head")

    # The name is there, whole or cut with an ellipsis, inside the screen.
    title = page.get_by_test_id("room-title")
    await expect(title).to_have_text(f"#{name}")
    await expect(title).to_be_in_viewport()
    # The box the name's text is laid out in (its own span, or the heading).
    shown: dict[str, Any] = await title.evaluate(
        """h1 => { const el = h1.querySelector('.title-text') ?? h1
          const r = el.getBoundingClientRect()
          return {left: r.left, right: r.right, width: r.width,
                  overflow: getComputedStyle(el).textOverflow,
                  cut: el.scrollWidth > el.clientWidth} }"""
    )
    assert shown["left"] >= 0 and shown["right"] <= PHONE["width"], shown
    assert shown["width"] >= 120, f"the name is squeezed out: {shown}"
    assert shown["overflow"] == "ellipsis" and shown["cut"], shown

    # No header control wraps, and every one is on the screen.
    controls = await head.evaluate(WRAPS)
    assert len(controls) >= 3, controls  # the sidebar, a call, the menu
    for control in controls:
        assert control["height"] == control["single"], f"wraps: {control}"
        assert control["left"] >= 0 and control["right"] <= PHONE["width"], control
    header = await box(head)
    assert header["height"] < 80, header

    # The menu by keyboard: Enter opens it on its first item, arrows move, Escape gives the
    # focus back to its button.
    more = page.get_by_test_id("room-more")
    await expect(more).to_have_attribute("aria-haspopup", "menu")
    await expect(more).to_have_attribute("aria-expanded", "false")
    await page.get_by_test_id("phone-call").focus()
    await page.keyboard.press("Tab")
    await expect(more).to_be_focused()
    await expect(page.get_by_role("tooltip")).to_have_text("More actions")
    await page.keyboard.press("Enter")
    menu = page.get_by_role("menu", name="More actions")
    await expect(menu).to_be_visible()
    await expect(more).to_have_attribute("aria-expanded", "true")
    await expect(menu.get_by_role("menuitem", name="Board")).to_be_focused()
    await page.keyboard.press("ArrowDown")
    await expect(menu.get_by_test_id("menu-video-call")).to_be_focused()
    await page.keyboard.press("End")
    await expect(menu.get_by_role("menuitem", name="Room settings")).to_be_focused()
    await page.keyboard.press("ArrowDown")  # round to the first
    await expect(menu.get_by_role("menuitem", name="Board")).to_be_focused()
    await page.keyboard.press("Escape")
    await expect(menu).to_be_hidden()
    await expect(more).to_be_focused()
    await expect(more).to_have_attribute("aria-expanded", "false")

    # Room settings: ArrowUp opens the menu on its last item.
    await page.keyboard.press("ArrowUp")
    await expect(menu.get_by_role("menuitem", name="Room settings")).to_be_focused()
    await page.keyboard.press("Enter")
    settings = page.get_by_test_id("room-settings-dialog")
    await expect(settings).to_be_visible()
    await settings.get_by_test_id("settings-close").click()
    await expect(settings).to_have_count(0)

    # The board, from the menu.
    await more.focus()
    await page.keyboard.press("Enter")
    await expect(menu.get_by_role("menuitem", name="Board")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(f"{page.url.split('/rooms/')[0]}/rooms/{room['id']}/board")


async def test_tapping_a_message_on_a_phone_moves_nothing(
    open_as: ContextFactory, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    await bob.call("PATCH", "/api/me", {"display_name": "Bartholomew Nakamura-Lindqvist"})
    room = await new_room(alice, bob, kind="channel")
    sock = await bob.connect()
    text = "The staging deploy is green, the release notes are in the wiki"
    await sock.send_message(room["id"], text)
    _, page = await open_as(alice, viewport=PHONE, path=f"/rooms/{room['id']}")
    await touch_screen(page)
    item = message(room_list(page), text)
    await expect(item).to_be_visible(timeout=SLOW)
    react = item.get_by_test_id("action-react")
    await expect(react).to_be_hidden()
    parts = {
        "author": item.get_by_test_id("message-author"),
        "time": item.locator("header.meta time"),
        "body": item.get_by_test_id("message-body"),
    }
    before = {key: await box(part) for key, part in parts.items()}

    await parts["body"].click()  # a tap
    await expect(react).to_be_visible()
    after = {key: await box(part) for key, part in parts.items()}
    assert after == before
    toolbar = await box(item.get_by_role("toolbar"))
    assert toolbar["x"] >= 0 and toolbar["x"] + toolbar["width"] <= PHONE["width"], toolbar


async def test_icon_buttons_show_their_name_on_hover_and_focus(
    open_as: ContextFactory, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    room = await new_room(alice, bob, kind="channel")
    sock = await bob.connect()
    await sock.send_message(room["id"], "Hover me")
    _, page = await open_as(alice, viewport=DESKTOP, path=f"/rooms/{room['id']}")
    item = message(room_list(page), "Hover me")
    await expect(item).to_be_visible(timeout=SLOW)
    tip = page.get_by_role("tooltip")

    # Room settings have a place of their own, named as the tooltip says.
    gear = page.get_by_role("button", name="Room settings", exact=True)
    await gear.hover()
    await expect(tip).to_be_visible()
    await expect(tip).to_have_text("Room settings")
    tip_box, gear_box = await box(tip), await box(gear)
    assert tip_box["y"] >= gear_box["y"] + gear_box["height"] - 1  # under it, not over it
    await page.mouse.move(0, DESKTOP["height"] - 1)
    await expect(tip).to_be_hidden()

    # The member count is named by what it shows.
    members = page.get_by_test_id("room-settings-button")
    await expect(members).to_have_accessible_name("2 members")

    # Keyboard focus shows it too; Escape hides it without moving the focus.
    await members.focus()
    await page.keyboard.press("Tab")
    await expect(gear).to_be_focused()
    await expect(tip).to_have_text("Room settings")
    await page.keyboard.press("Escape")
    await expect(tip).to_be_hidden()
    await expect(gear).to_be_focused()

    # A message's action buttons.
    await item.hover()
    react = item.get_by_test_id("action-react")
    await react.hover()
    await expect(tip).to_have_text("Add reaction")
    await expect(react).to_have_accessible_name("Add reaction")
    unread = item.get_by_test_id("action-mark-unread")
    await unread.hover()
    await expect(tip).to_have_text("Mark as unread")

    # The board is a button like the others, not an underlined link.
    board = page.get_by_test_id("room-board-button")
    await expect(board).to_have_role("button")
    assert await board.evaluate("el => el.tagName") == "BUTTON"
    decoration = await board.evaluate("el => getComputedStyle(el).textDecorationLine")
    assert decoration == "none"


async def test_phone_menu_switches_a_conversation_to_peer_to_peer(
    open_as: ContextFactory, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    await bob.call("PATCH", "/api/me", {"display_name": "Bob Nakamura"})
    direct = await new_room(alice, bob, kind="direct")
    _, page = await open_as(alice, viewport=PHONE, path=f"/rooms/{direct['id']}")
    await expect(page.get_by_test_id("room-title")).to_have_text("Bob Nakamura", timeout=SLOW)
    await page.get_by_test_id("room-more").click()
    toggle = page.get_by_role("menuitemcheckbox", name="Peer-to-peer")
    await expect(toggle).to_have_attribute("aria-checked", "false")
    await toggle.click()
    await expect(page.get_by_role("menu", name="More actions")).to_be_hidden()

    async def switched() -> bool:
        room = (await alice.get(f"/api/rooms/{direct['id']}"))["room"]
        return bool(room["p2p"])

    await wait_until(lambda: switched(), what="the conversation in peer-to-peer mode")
    await page.get_by_test_id("room-more").click()
    await expect(toggle).to_have_attribute("aria-checked", "true")
