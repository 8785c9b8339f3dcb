"""Screenshots of the main views in light and dark themes, on a desktop and a phone, saved
under test-artifacts/ for people to look at. The test also checks each view is really there
(and the theme really applied) before it takes the picture."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from playwright.async_api import Page, expect

from tests.client import Client
from tests.conftest import UserFactory, new_room
from tests.e2e.conftest import AnonymousFactory, ContextFactory, screenshot_path
from tests.e2e.helpers import SLOW, Network, message, room_list

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}

CODE = """Here is the retry helper:
```python
def backoff(attempt: int, base: float = 0.5) -> float:
    # full jitter, capped at 30 s
    return random.uniform(0, min(30.0, base * 2 ** attempt))
```"""


@dataclass
class Variant:
    name: str
    viewport: dict[str, int]
    scheme: str  # the system's colour scheme
    theme: str  # what the user picks in settings: light, dark or system

    @property
    def dark(self) -> bool:
        return self.theme == "dark" or (self.theme == "system" and self.scheme == "dark")

    @property
    def phone(self) -> bool:
        return self.viewport == PHONE


VARIANTS = [
    Variant("desktop-light", DESKTOP, "light", "system"),
    Variant("desktop-dark", DESKTOP, "dark", "system"),  # dark because the system is
    Variant("phone-light", PHONE, "light", "system"),
    Variant("phone-dark", PHONE, "light", "dark"),  # dark because the user chose it
]


@dataclass
class Scene:
    alice: Client
    room: int
    root: int


async def make_scene(make_user: UserFactory) -> Scene:
    """A lively room: markdown, a code block, reactions, a thread, a mention, an edit."""
    people = {}
    for key, name in (("alice", "Alice Martin"), ("bob", "Bob Nakamura"), ("carol", "Carol Díaz")):
        client = await make_user(key)
        await client.call("PATCH", "/api/me", {"display_name": name})
        people[key] = client
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    room = (await new_room(alice, bob, carol, kind="channel", name=f"platform-{alice.id}"))["id"]
    await alice.call("PATCH", f"/api/rooms/{room}", {"topic": "Deploys, on-call and tooling"})
    a, b, c = await asyncio.gather(alice.connect(), bob.connect(), carol.connect())
    await b.send_message(room, "Morning! The **staging deploy** is green :tada:")
    await b.send_message(room, "Changelog: https://example.invalid/changelog")
    first = await c.send_message(room, "Nice. Anything left for the release?")
    root = await a.send_message(
        room, "Two things:\n1. bump the version\n2. write the release notes\n\n> ship it"
    )
    await b.send_message(room, "I'll take the notes", thread=root["id"])
    await c.send_message(room, "And I'll bump the version", thread=root["id"])
    code = await b.send_message(room, CODE)
    edited = await c.send_message(room, f"@{alice.user['username']} can you review `backoff`?")
    await c.ok(
        {
            "type": "message.edit",
            "message": edited["id"],
            "body": f"@{alice.user['username']} could you review `backoff()` today?",
        }
    )
    for sock, msg, emoji in (
        (a, code, "👍"),
        (c, code, "👍"),
        (a, code, "🎉"),
        (b, first, "👀"),
        (a, root, "✅"),
    ):
        await sock.ok({"type": "reaction.set", "message": msg["id"], "emoji": emoji, "on": True})
    await a.send_message(room, "Looks good to me")
    return Scene(alice, room, root["id"])


async def settle(page: Page) -> None:
    await page.evaluate("document.fonts.ready.then(() => true)")


async def shoot(page: Page, variant: Variant, view: str, *, keep_mouse: bool = False) -> None:
    if not keep_mouse:
        await page.mouse.move(0, variant.viewport["height"] - 1)  # no hover toolbar
    await settle(page)
    expected = "dark" if variant.dark else "light"
    await expect(page.locator("html")).to_have_attribute("data-theme", expected)
    await page.screenshot(path=screenshot_path(f"{view}-{variant.name}"), animations="disabled")


@pytest.mark.parametrize("variant", VARIANTS, ids=[v.name for v in VARIANTS])
async def test_screenshots(
    variant: Variant,
    open_as: ContextFactory,
    open_anonymous: AnonymousFactory,
    make_user: UserFactory,
) -> None:
    _, signin = await open_anonymous(viewport=variant.viewport, color_scheme=variant.scheme)
    await expect(signin.get_by_test_id("login-submit")).to_be_visible()
    if variant.theme != "system":
        await signin.evaluate(
            "theme => localStorage.setItem('pychat.preferences', JSON.stringify({theme}))",
            variant.theme,
        )
        await signin.reload()
    await shoot(signin, variant, "sign-in")

    scene = await make_scene(make_user)
    _, page = await open_as(
        scene.alice,
        viewport=variant.viewport,
        color_scheme=variant.scheme,
        path=f"/rooms/{scene.room}",
    )
    if variant.theme != "system":
        # Chosen in the settings view, as a person would.
        await page.goto("/settings")
        await page.get_by_test_id(f"theme-{variant.theme}").check()
        await page.goto(f"/rooms/{scene.room}")
    timeline = room_list(page)
    await expect(message(timeline, "Looks good to me")).to_be_visible(timeout=SLOW)
    code = message(timeline, "Here is the retry helper")
    await expect(code.locator("pre code span").first).to_be_visible()  # highlighted
    await expect(code.get_by_test_id("reaction-👍")).to_contain_text("2")
    await expect(page.get_by_test_id(f"thread-link-{scene.root}")).to_have_text("2 replies")
    # Opening the room reads it: the mention badge goes.
    link = page.get_by_test_id(f"room-link-{scene.room}")
    await expect(link.get_by_test_id("mention-badge")).to_have_count(0, timeout=SLOW)
    await shoot(page, variant, "room")

    if variant.phone:
        # The phone's header: the room's name, a call and the menu of the rest (issue 15).
        await expect(page.get_by_test_id("room-title")).to_be_in_viewport()
        head = page.get_by_test_id("room-view").locator("header.room-head")
        await settle(page)
        await head.screenshot(path=screenshot_path(f"room-header-{variant.name}"))
        await page.get_by_test_id("room-more").click()
        menu = page.get_by_role("menu", name="More actions")
        await expect(menu).to_be_visible()
        await shoot(page, variant, "room-menu", keep_mouse=True)
        await page.keyboard.press("Escape")
        await expect(menu).to_be_hidden()
        await page.get_by_test_id("open-sidebar").click()
        await expect(page.get_by_test_id("nav-search")).to_be_in_viewport()
        await shoot(page, variant, "sidebar")
        await page.locator(".sidebar").screenshot(path=screenshot_path(f"room-list-{variant.name}"))
        await page.get_by_role("button", name="Close menu").click()
        await expect(page.get_by_test_id("nav-search")).not_to_be_in_viewport()
    else:
        hovered = message(timeline, "Nice. Anything left")
        await hovered.hover()
        await hovered.get_by_test_id("action-react").click()
        await expect(page.get_by_test_id("emoji-picker")).to_be_visible()
        await shoot(page, variant, "emoji-picker", keep_mouse=True)
        await page.keyboard.press("Escape")
        await expect(page.get_by_test_id("emoji-picker")).to_have_count(0)

    await page.get_by_test_id(f"thread-link-{scene.root}").click()
    panel = page.get_by_test_id("thread-panel")
    await expect(message(panel, "And I'll bump the version")).to_be_visible()
    await expect(panel.get_by_test_id("composer-input")).to_be_in_viewport()
    await shoot(page, variant, "thread")
    await panel.get_by_test_id("close-thread").click()
    await expect(panel).to_have_count(0)

    await page.goto("/search?q=release")
    search = page.get_by_test_id("search-view")
    await expect(search.locator("[data-testid^='search-result-']")).to_have_count(2)
    await shoot(page, variant, "search")

    await page.goto("/settings")
    await expect(page.get_by_test_id("profile-display-name")).to_have_value("Alice Martin")
    await shoot(page, variant, "settings")

    # The network drops: the banner says so, and what one writes waits in the outbox.
    await page.goto(f"/rooms/{scene.room}")
    await expect(message(timeline, "Looks good to me")).to_be_visible()
    network = Network(page.context)
    await network.go_offline()
    await expect(page.get_by_test_id("offline-banner")).to_be_visible()
    box = page.get_by_test_id("room-view").get_by_test_id("composer-input")
    await box.fill("Written on the train")
    await box.press("Enter")
    await expect(page.get_by_test_id("pending-message")).to_have_attribute("data-state", "pending")
    await shoot(page, variant, "offline")
    await network.go_online()
    await expect(page.get_by_test_id("pending-message")).to_have_count(0, timeout=SLOW)
