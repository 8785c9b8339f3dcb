"""Signing in and chatting both ways between Firefox ESR and Chromium."""

from __future__ import annotations

from playwright.async_api import expect

from tests.conftest import USER_PASSWORD, UserFactory, new_room
from tests.e2e import helpers as chromium
from tests.e2e.conftest import ContextFactory
from tests.firefox.conftest import FirefoxOpener
from tests.firefox.driver import Firefox
from tests.firefox.pages import bodies, open_room, send, tid, wait_for_message
from tests.server import Server


async def test_sign_in_in_firefox(firefox: Firefox, server: Server, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    room = await new_room(alice, name="ff-signin")
    tab = await firefox.new_tab()
    # A deep link asks to sign in first and lands where it pointed.
    await tab.goto(f"{server.url}/rooms/{room['id']}")
    await tab.wait("() => location.pathname === '/login'", what="the sign-in page")
    await tab.type(tid("login-username"), alice.user["username"])
    await tab.type(tid("login-password"), "not-the-password", enter=True)
    await tab.wait(
        "() => document.querySelector('[data-testid=\"login-error\"]')",
        what="the wrong password is refused",
    )
    await tab.call(
        "() => { document.querySelector('[data-testid=\"login-password\"]').value = '' }"
    )
    await tab.type(tid("login-password"), USER_PASSWORD)
    await tab.click(tid("login-submit"))
    await tab.wait(
        "(name, id) => document.querySelector('[data-testid=\"current-user\"]')?.textContent"
        "?.trim() === name && document.querySelector('[data-testid=\"room-view\"]')"
        "?.dataset.roomId === id",
        alice.user["username"],
        str(room["id"]),
        what="signed in, in the deep-linked room",
    )


async def test_firefox_and_chromium_chat_both_ways(
    firefox_as: FirefoxOpener, open_as: ContextFactory, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    rid = (await new_room(alice, bob, name="ff-chat"))["id"]
    tab = await firefox_as(alice)
    _, bob_page = await open_as(bob)
    await open_room(tab, rid)
    await chromium.open_room(bob_page, rid)

    await send(tab, "from firefox, hello")
    await expect(
        chromium.message(chromium.room_list(bob_page), "from firefox, hello")
    ).to_have_count(1, timeout=chromium.SLOW)
    await chromium.send(bob_page, "from chromium, **hi**", shown="from chromium, hi")
    await wait_for_message(tab, "from chromium, hi")
    # Markdown is rendered the same: bold in Firefox too.
    assert await tab.call(
        "() => [...document.querySelectorAll('[data-testid=\"message-body\"] strong')]"
        ".some((s) => s.textContent === 'hi')"
    )
    assert await bodies(tab) == ["from firefox, hello", "from chromium, hi"]
