"""Notification settings in the settings page and the room dialog (issue 16): saved on the
server, and a second device of the same person sees each change live, without a reload.
Rooms muted in a browser before mutes moved to the server are moved there on first load."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.conftest import UserFactory, new_room
from tests.e2e.conftest import ContextFactory
from tests.e2e.helpers import SLOW, open_room

# Runs before the app, once per tab: this browser had muted a room when mutes lived here.
LEGACY_MUTE = """
(() => {
  if (location.protocol === 'about:' || sessionStorage.getItem('seeded')) return
  sessionStorage.setItem('seeded', '1')
  localStorage.setItem('pychat.preferences', JSON.stringify({ mutedRooms: [%d] }))
})()
"""


async def caught_up(page: Page) -> None:
    await expect(page.get_by_test_id("connection")).to_have_attribute(
        "data-caught-up", "yes", timeout=SLOW
    )


async def test_settings_save_on_the_server_and_another_device_follows_live(
    open_as: ContextFactory, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    group = (await new_room(alice, bob, name="notify-group"))["id"]
    dm = (await new_room(alice, bob, kind="direct"))["id"]

    _, laptop = await open_as(alice, path="/settings")
    _, phone = await open_as(alice, path="/settings", init_script=LEGACY_MUTE % dm)
    for page in (laptop, phone):
        await caught_up(page)

    # The room the phone's browser had muted is now muted on the server, for every device.
    await expect(laptop.get_by_test_id("notify-settings").locator("details")).to_be_attached()
    await laptop.get_by_text("Per room").click()
    await expect(laptop.get_by_test_id(f"notify-room-{dm}")).to_have_value("nothing", timeout=SLOW)
    legacy = await phone.evaluate(
        "() => JSON.parse(localStorage.getItem('pychat.preferences')).mutedRooms"
    )
    assert legacy == []

    ui = laptop.get_by_test_id("notify-settings")
    other = phone.get_by_test_id("notify-settings")
    await ui.get_by_test_id("notify-group-level").select_option("all")
    await expect(other.get_by_test_id("notify-group-level")).to_have_value("all", timeout=SLOW)

    await ui.get_by_test_id("notify-keywords").fill("deploy,  On call , deploy")
    await ui.get_by_test_id("notify-keywords-save").click()
    await expect(ui.get_by_test_id("notify-keywords")).to_have_value("deploy, On call")
    await expect(other.get_by_test_id("notify-keywords")).to_have_value(
        "deploy, On call", timeout=SLOW
    )

    await ui.get_by_test_id("notify-dnd").check()
    await expect(other.get_by_test_id("notify-dnd")).to_be_checked(timeout=SLOW)
    await ui.get_by_test_id("notify-dnd-end").fill("06:30")
    await expect(other.get_by_test_id("notify-dnd-end")).to_have_value("06:30", timeout=SLOW)
    await expect(other.get_by_test_id("notify-dnd-start")).to_have_value("22:00")

    await ui.get_by_test_id("notify-snooze-hour").click()
    await expect(ui.get_by_test_id("notify-snoozed")).to_be_visible()
    await expect(other.get_by_test_id("notify-snoozed")).to_be_visible(timeout=SLOW)

    await ui.get_by_test_id("notify-hide-text").check()
    await expect(other.get_by_test_id("notify-hide-text")).to_be_checked(timeout=SLOW)

    await other.get_by_test_id("notify-snooze-off").click()
    await expect(ui.get_by_test_id("notify-not-snoozed")).to_be_visible(timeout=SLOW)

    # A room's own level and mute, from its settings dialog; the phone's page follows.
    await laptop.goto("/")
    await caught_up(laptop)
    await open_room(laptop, group)
    await laptop.get_by_test_id("room-settings-button").click()
    dialog = laptop.get_by_test_id("room-notify")
    await dialog.get_by_test_id("room-notify-level").select_option("mentions")
    await dialog.get_by_test_id("room-mute").select_option("1h")
    await expect(dialog.get_by_test_id("room-muted-until")).to_be_visible()
    await phone.get_by_text("Per room").click()
    await expect(phone.get_by_test_id(f"notify-room-{group}")).to_have_value(
        "mentions", timeout=SLOW
    )

    # It is all on the server.
    saved = (await alice.get("/api/me/notifications"))["notifications"]
    assert saved["group_level"] == "all"
    assert saved["keywords"] == ["deploy", "On call"]
    assert (saved["dnd_start"], saved["dnd_end"]) == ("22:00", "06:30")
    assert saved["snoozed_until"] is None and saved["hide_text"] is True
    assert saved["rooms"][str(dm)]["level"] == "nothing"
    assert saved["rooms"][str(group)]["level"] == "mentions"
    assert saved["rooms"][str(group)]["muted_until"] is not None

    # Unmuting in the dialog; a bad keyword is refused with the server's sentence.
    await dialog.get_by_test_id("room-unmute").click()
    await expect(dialog.get_by_test_id("room-mute")).to_be_visible()
    await phone.get_by_test_id("notify-keywords").fill("x" * 41)
    await phone.get_by_test_id("notify-keywords-save").click()
    await expect(phone.get_by_test_id("notify-error")).to_contain_text("1 to 40 characters")
