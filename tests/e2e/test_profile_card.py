"""A name, an avatar or an @mention opens the person's profile card (issue 15): her name,
username, presence, status and local time (from the time zone her browser reported), and
"Message" and "Call", which open (or make) the direct conversation with her."""

from __future__ import annotations

from playwright.async_api import expect

from tests.conftest import UserFactory, new_room
from tests.e2e.conftest import ContextFactory, screenshot_path
from tests.e2e.helpers import SLOW, message, room_list
from tests.waiting import wait_until

TOKYO_NOW = """() => new Intl.DateTimeFormat(undefined,
  {hour: 'numeric', minute: '2-digit', timeZone: 'Asia/Tokyo'}).format(Date.now())"""


async def test_time_zone_is_checked_and_reported_by_the_browser(
    open_as: ContextFactory, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    for wrong in ("Mars/Olympus_Mons", "../../etc/passwd", "x" * 65, 5):
        status, body = await alice.call("PATCH", "/api/me", {"timezone": wrong})
        assert status == 400 and body["error"]["code"] == "bad_request", (wrong, body)
    status, body = await alice.call("PATCH", "/api/me", {"timezone": "America/Argentina/Salta"})
    assert status == 200 and body["user"]["timezone"] == "America/Argentina/Salta", body
    status, body = await alice.call("PATCH", "/api/me", {"timezone": None})
    assert status == 200 and body["user"]["timezone"] is None, body

    # Her browser tells the server its own zone when she opens the app.
    _, page = await open_as(alice)
    await expect(page.get_by_test_id("room-view")).to_be_visible(timeout=SLOW)
    zone = await page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone")

    async def reported() -> bool:
        me = await alice.get("/api/me")
        return bool(me["user"]["timezone"] == zone)

    await wait_until(lambda: reported(), what=f"the browser's time zone {zone} on the profile")


async def test_profile_card_from_name_avatar_and_mention(
    open_as: ContextFactory, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    await alice.call("PATCH", "/api/me", {"display_name": "Alice Martin"})
    status, _ = await bob.call(
        "PATCH",
        "/api/me",
        {"display_name": "Bob Nakamura", "status_text": "On call", "timezone": "Asia/Tokyo"},
    )
    assert status == 200
    room = await new_room(alice, bob, kind="channel")
    sock = await bob.connect()  # online
    await sock.send_message(room["id"], f"Lunch, @{alice.user['username']}?")
    _, page = await open_as(alice, path=f"/rooms/{room['id']}")
    item = message(room_list(page), "Lunch")
    await expect(item).to_be_visible(timeout=SLOW)

    # The author's name: a card named after her, focus inside, everything at a glance.
    author = item.get_by_test_id("message-author")
    before = await page.evaluate(TOKYO_NOW)  # the card's time is read between the two
    await author.click()
    card = page.get_by_role("dialog", name="Bob Nakamura")
    await expect(card).to_be_visible()
    await expect(card.get_by_test_id("profile-username")).to_have_text(f"@{bob.user['username']}")
    await expect(card.get_by_test_id("profile-presence")).to_have_text("Online")
    await expect(card.get_by_test_id("profile-status")).to_have_text("On call")
    local = card.get_by_test_id("profile-local-time")
    await expect(local).to_contain_text("local time · Tokyo")
    shown = (await local.inner_text()).split(" local time")[0].strip()
    # The minute may turn between the two readings (a CI run once opened the card at 6:30
    # and read the clock at 6:31).
    after = await page.evaluate(TOKYO_NOW)
    assert shown in {before, after}, (shown, before, after)
    message_button = card.get_by_role("button", name="Message")
    await expect(message_button).to_be_focused()
    await page.screenshot(path=screenshot_path("profile-card"), animations="disabled")

    # Focus stays in the card: Tab goes round.
    await page.keyboard.press("Tab")
    await expect(card.get_by_role("button", name="Call")).to_be_focused()
    await page.keyboard.press("Tab")
    await expect(card.get_by_role("button", name="Close")).to_be_focused()
    await page.keyboard.press("Tab")
    await expect(message_button).to_be_focused()
    # Escape closes it, and the focus goes back to the name.
    await page.keyboard.press("Escape")
    await expect(card).to_have_count(0)
    await expect(author).to_be_focused()

    # An @mention opens the card of the one mentioned: Alice's own, with nothing to do.
    await item.locator(".mention").click()
    mine = page.get_by_role("dialog", name="Alice Martin")
    await expect(mine).to_be_visible()
    await expect(mine.get_by_role("button", name="Message")).to_have_count(0)
    await mine.get_by_role("button", name="Close").click()
    await expect(mine).to_have_count(0)

    # A name in the room's member list opens the card over the settings; Escape closes
    # the card only.
    await page.get_by_test_id("room-settings-button").click()
    settings = page.get_by_test_id("room-settings-dialog")
    await settings.get_by_test_id(f"member-profile-{bob.user['username']}").click()
    await expect(card).to_be_visible()
    await expect(card.get_by_test_id("profile-presence")).to_have_text("Online")
    await page.keyboard.press("Escape")
    await expect(card).to_have_count(0)
    await expect(settings).to_be_visible()
    await settings.get_by_test_id("settings-close").click()
    await expect(settings).to_have_count(0)

    # The avatar, then "Message": the direct conversation with Bob, made on the way.
    await item.get_by_test_id("message-avatar").click()
    await expect(card).to_be_visible()
    await card.get_by_role("button", name="Message").click()
    await expect(card).to_have_count(0)
    await expect(page.get_by_test_id("room-title")).to_have_text("Bob Nakamura", timeout=SLOW)
    direct = int(await page.get_by_test_id("room-view").get_attribute("data-room-id") or 0)
    rooms = (await alice.get("/api/rooms"))["rooms"]
    found = next(r for r in rooms if r["id"] == direct)
    assert found["kind"] == "direct" and sorted(found["members"]) == sorted([alice.id, bob.id])

    # Back in the channel, "Call" starts a call in that same conversation.
    await page.goto(f"/rooms/{room['id']}")
    await expect(item).to_be_visible(timeout=SLOW)
    await item.get_by_test_id("message-author").click()
    await card.get_by_role("button", name="Call").click()
    await expect(page.get_by_test_id("room-view")).to_have_attribute(
        "data-room-id", str(direct), timeout=SLOW
    )
    await expect(page.get_by_test_id("call-leave-header")).to_be_visible(timeout=SLOW)
    await page.get_by_test_id("call-leave-header").click()
    await expect(page.get_by_test_id("call-leave-header")).to_have_count(0, timeout=SLOW)
