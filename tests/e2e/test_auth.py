"""Signing in, registering through an invite link, signing out, and sessions."""

from __future__ import annotations

import re
import uuid

from playwright.async_api import Route, expect

from tests.client import Client
from tests.conftest import USER_PASSWORD, UserFactory, new_room
from tests.e2e.conftest import AnonymousFactory, ContextFactory


async def test_sign_in_through_the_form(
    open_anonymous: AnonymousFactory, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    room = await new_room(alice, name="signin")
    name = alice.user["username"]
    _, page = await open_anonymous()
    # A deep link asks to sign in first and lands where it pointed.
    await page.goto(f"/rooms/{room['id']}")
    await expect(page).to_have_url(re.compile(r"/login\?next="))

    await page.get_by_test_id("login-username").fill(name)
    await page.get_by_test_id("login-password").fill("not-the-password")
    await page.get_by_test_id("login-submit").click()
    await expect(page.get_by_test_id("login-error")).to_be_visible()
    await expect(page.get_by_test_id("login-error")).to_contain_text(
        re.compile("password", re.IGNORECASE)
    )
    await expect(page.get_by_test_id("current-user")).to_have_count(0)

    await page.get_by_test_id("login-username").fill(name.upper())  # usernames ignore case
    await page.get_by_test_id("login-password").fill(USER_PASSWORD)
    await page.get_by_test_id("login-submit").click()
    await expect(page.get_by_test_id("current-user")).to_have_text(name)
    await expect(page.get_by_test_id("room-view")).to_have_attribute(
        "data-room-id", str(room["id"])
    )
    await expect(page.get_by_test_id("login-error")).to_have_count(0)


async def test_register_with_an_invite_link_then_sign_out(
    open_as: ContextFactory, open_anonymous: AnonymousFactory, admin: Client
) -> None:
    # The admin makes the link in the settings view.
    _, admin_page = await open_as(admin)
    await admin_page.get_by_test_id("nav-settings").click()
    await admin_page.get_by_test_id("create-invite").click()
    invite = admin_page.get_by_test_id("invite-url")
    await expect(invite).to_have_value(re.compile(r"/register\?invite=\S+"))
    link = await invite.input_value()
    assert link.startswith(admin.base_url + "/register?invite="), link

    context, page = await open_anonymous()
    await page.goto(link)
    username = f"carol{uuid.uuid4().hex[:6]}"
    await page.get_by_test_id("register-username").fill(username)
    await page.get_by_test_id("register-display-name").fill("Carol Danvers")
    await page.get_by_test_id("register-password").fill("carol-password-1")
    await page.get_by_test_id("register-confirm").fill("carol-password-2")
    await page.get_by_test_id("register-submit").click()
    await expect(page.get_by_test_id("register-error")).to_have_text("The two passwords differ.")
    await page.get_by_test_id("register-confirm").fill("carol-password-1")
    await page.get_by_test_id("register-submit").click()
    await expect(page.get_by_test_id("current-user")).to_have_text("Carol Danvers")
    # New accounts join #general.
    await expect(page.locator("[data-room-name='general']")).to_be_visible()
    assert (await context.request.get("/api/me")).status == 200

    # The link works once.
    _, second = await open_anonymous()
    await second.goto(link)
    await second.get_by_test_id("register-username").fill(f"dave{uuid.uuid4().hex[:6]}")
    await second.get_by_test_id("register-password").fill("dave-password-1")
    await second.get_by_test_id("register-confirm").fill("dave-password-1")
    await second.get_by_test_id("register-submit").click()
    await expect(second.get_by_test_id("register-error")).to_be_visible()
    await expect(second.get_by_test_id("current-user")).to_have_count(0)

    # Signing out ends the session on the server and leaves nothing reachable.
    await page.get_by_test_id("sign-out").click()
    await expect(page).to_have_url(re.compile(r"/login$"))
    assert (await context.request.get("/api/me")).status == 401
    await page.goto("/")
    await expect(page).to_have_url(re.compile(r"/login$"))
    await expect(page.get_by_test_id("current-user")).to_have_count(0)
    # And one can sign in again with the new account.
    await page.get_by_test_id("login-username").fill(username)
    await page.get_by_test_id("login-password").fill("carol-password-1")
    await page.get_by_test_id("login-submit").click()
    await expect(page.get_by_test_id("current-user")).to_have_text("Carol Danvers")


async def test_sessions_are_listed_and_revoked(
    open_as: ContextFactory, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    laptop = await Client(alice.base_url).login(alice.user["username"], USER_PASSWORD)
    try:
        sessions = (await alice.get("/api/sessions"))["sessions"]
        others = [s["id"] for s in sessions if not s["current"]]
        assert len(others) == 1
        _, page = await open_as(alice)
        await page.get_by_test_id("nav-settings").click()
        other = page.get_by_test_id(f"session-{others[0]}")
        await expect(other).to_be_visible()
        await other.get_by_test_id(f"revoke-session-{others[0]}").click()
        await expect(other).to_have_count(0)
        status, _ = await laptop.call("GET", "/api/me")
        assert status == 401
        # The page's own session lives on.
        current = next(s["id"] for s in sessions if s["current"])
        await expect(page.get_by_test_id(f"session-{current}")).to_be_visible()
        await expect(page.get_by_test_id(f"revoke-session-{current}")).to_have_count(0)
    finally:
        await laptop.close()


async def test_a_request_lost_while_the_network_changes_does_not_sign_anyone_out(
    open_as: ContextFactory, make_user: UserFactory
) -> None:
    """The first "who am I" of a fresh tab fails as if the network changed under the browser
    (ERR_NETWORK_CHANGED on Wi-Fi roaming): the app asks again instead of showing a signed-in
    person the sign-in page."""
    alice = await make_user("alice")
    # A page of the server that does not run the app, so nothing is remembered yet.
    context, page = await open_as(alice, path="/manifest.webmanifest")
    lost: list[str] = []

    async def lose_the_first(route: Route) -> None:
        if not lost:
            lost.append(route.request.url)
            await route.abort("connectionreset")
        else:
            await route.continue_()

    await context.route("**/api/me", lose_the_first)
    await page.goto("/")
    await expect(page.get_by_test_id("current-user")).to_have_text(alice.user["username"])
    assert lost, "the first request was not lost: the test proved nothing"
    await expect(page).not_to_have_url(re.compile("/login"))
