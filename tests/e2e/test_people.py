"""People as the app shows them (issue 15): Echo, the test-call bot, is nobody to pick and
its conversation can be closed; counts of people read right; other people's dots say
nothing while you are offline; the add-person form says what a username may be."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from playwright.async_api import expect

from tests.client import Client
from tests.conftest import USER_PASSWORD, UserFactory, new_room
from tests.e2e.conftest import ContextFactory
from tests.e2e.helpers import SLOW, Network, open_room


@pytest.fixture
async def make_user_device() -> AsyncIterator[Callable[[Client], Awaitable[Client]]]:
    """Another device (session) of the same person."""
    made: list[Client] = []

    async def make(person: Client) -> Client:
        device = Client(person.base_url)
        made.append(device)
        return await device.login(person.user["username"], USER_PASSWORD)

    yield make
    for device in made:
        await device.close()


async def test_the_echo_conversation_can_be_closed_and_stays_closed(
    open_as: ContextFactory,
    make_user: UserFactory,
    make_user_device: Callable[[Client], Awaitable[Client]],
) -> None:
    ann = await make_user("ann")
    dm = (await ann.post("/api/test-call"))["room"]
    link = f"room-link-{dm['id']}"
    _, page = await open_as(ann)
    phone = await make_user_device(ann)
    _, other_device = await open_as(phone)
    await expect(page.get_by_test_id(link)).to_be_visible()
    await expect(other_device.get_by_test_id(link)).to_be_visible()

    # Echo is nobody to start a conversation with.
    await page.get_by_test_id("create-direct").click()
    await page.get_by_test_id("user-filter").fill("echo")
    dialog = page.get_by_test_id("new-direct-dialog")
    await expect(dialog).to_contain_text("Nobody found.")
    await dialog.get_by_role("button", name="Cancel").click()
    await expect(dialog).to_have_count(0)

    await open_room(page, dm["id"])
    await page.get_by_test_id(link).hover()
    await page.get_by_test_id(f"close-direct-{dm['id']}").click()
    await expect(page.get_by_test_id(link)).to_have_count(0)
    # Off to another room (general), not back to the closed one.
    await expect(page.get_by_test_id("room-view")).not_to_have_attribute(
        "data-room-id", str(dm["id"])
    )
    # Closed on every device, and after a reload.
    await expect(other_device.get_by_test_id(link)).to_have_count(0, timeout=SLOW)
    await page.reload()
    await expect(page.get_by_test_id("create-direct")).to_be_visible()
    await expect(page.get_by_test_id(link)).to_have_count(0)

    # The test call brings it back.
    await ann.post("/api/test-call")
    await expect(page.get_by_test_id(link)).to_be_visible(timeout=SLOW)
    await expect(other_device.get_by_test_id(link)).to_be_visible(timeout=SLOW)


async def test_a_room_of_one_has_1_member(open_as: ContextFactory, make_user: UserFactory) -> None:
    ann = await make_user("ann")
    bob = await make_user("bob")
    alone = await new_room(ann, name="just-me")
    pair = await new_room(ann, bob, name="two-of-us")
    _, page = await open_as(ann)
    await open_room(page, alone["id"])
    await expect(page.get_by_test_id("room-topic")).to_have_text("1 member")
    await open_room(page, pair["id"])
    await expect(page.get_by_test_id("room-topic")).to_have_text("2 members")


async def test_other_peoples_dots_go_grey_while_you_are_offline(
    open_as: ContextFactory, make_user: UserFactory
) -> None:
    ann = await make_user("ann")
    bob = await make_user("bob")
    dm = await new_room(ann, bob, kind="direct")
    bob_socket = await bob.connect()
    context, page = await open_as(ann)
    dot = page.get_by_test_id(f"presence-{bob.id}")
    header_dot = page.get_by_test_id("room-title").locator(".presence")
    await open_room(page, dm["id"])
    await expect(dot).to_have_class("presence online")
    await expect(header_dot).to_have_class("presence online")
    green = await dot.evaluate("e => getComputedStyle(e).backgroundColor")
    assert green != "rgba(0, 0, 0, 0)", green

    network = Network(context)
    await network.go_offline()
    await expect(page.get_by_test_id("offline-banner")).to_be_visible(timeout=SLOW)
    # Bob may have left meanwhile: we cannot know, and the dots do not pretend to.
    await expect(dot).not_to_have_css("background-color", green)
    await expect(header_dot).to_have_class("presence unknown")
    await expect(page.get_by_test_id("room-topic")).to_have_text("unknown while you are offline")

    await network.go_online()
    await expect(page.get_by_test_id("offline-banner")).to_have_count(0, timeout=SLOW)
    await expect(dot).to_have_css("background-color", green)
    await expect(header_dot).to_have_class("presence online")
    await bob_socket.close()


async def test_the_add_person_form_says_what_a_username_may_be(
    open_as: ContextFactory, admin: Client
) -> None:
    status, refusal = await admin.call(
        "POST", "/api/admin/users", {"username": "no spaces!", "password": USER_PASSWORD}
    )
    assert status == 400, refusal
    rule = refusal["error"]["message"]

    _, page = await open_as(admin, path="/admin/users")
    form = page.get_by_test_id("admin-create-user")
    username = form.get_by_test_id("new-username")
    await username.fill("no spaces!")
    await form.get_by_test_id("new-password").fill(USER_PASSWORD)
    await form.get_by_test_id("create-user").click()
    # What the browser says on submitting is the rule, not "Please match the requested
    # format."; the form says it before anyone tries, too.
    assert await username.evaluate("e => e.validationMessage") == rule
    await expect(form.get_by_test_id("new-username-rule")).to_have_text(rule)
    await expect(form.get_by_role("status")).to_have_text("")
    # A good name passes the same check and the account is made.
    good = f"ok.name-{uuid.uuid4().hex[:6]}"
    await username.fill(good)
    await form.get_by_test_id("create-user").click()
    await expect(form.get_by_role("status")).to_have_text(f"@{good} can sign in now.")
