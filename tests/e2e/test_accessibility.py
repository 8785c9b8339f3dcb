"""axe-core over every main view, light and dark, with realistic content: no serious or
critical WCAG 2.1 A/AA violation anywhere (contrast, names, keyboard reach of scrolled
regions, landmarks). A failure lists every violation with its view, rule and selector.

axe is injected as an init script (it reaches every page through the DevTools protocol),
so the app's strict Content-Security-Policy stays in force while axe runs.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from playwright.async_api import Page, expect
from yarl import URL

from appliance.tls.device import DeviceTls
from appliance.web.https_redirect import build_redirect_app
from tests.client import Client
from tests.conftest import UserFactory, new_room
from tests.e2e.conftest import ARTIFACTS, Contexts
from tests.e2e.files import a_pdf
from tests.e2e.helpers import SLOW, message, room_list
from tests.server import Server

AXE = Path(__file__).resolve().parents[2] / "appliance/web/spa/node_modules/axe-core/axe.min.js"
SCHEMES = ["light", "dark"]
BLOCKING = {"serious", "critical"}
# WCAG 2.0/2.1 A and AA, plus the (experimental, so off by default) check that an
# accessible name contains the visible label: speech users say what they see.
AXE_OPTIONS = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
    "rules": {"label-content-name-mismatch": {"enabled": True}},
    "resultTypes": ["violations"],
}
RUN_AXE = "options => axe.run(document, options)"
# The theme chosen in the app's settings follows the emulated system scheme here, so both
# ways of asking for dark are in force together.
CHOOSE_THEME = "theme => localStorage.setItem('pychat.preferences', JSON.stringify({theme}))"

CODE = """The retry helper:
```python
def backoff(attempt: int, base: float = 0.5) -> float:
    # full jitter, capped at 30 s
    label = "retry"  # a string, a number: 30
    return random.uniform(0, min(30.0, base * 2 ** attempt))
```
and in the shell: `make build`"""


def a_png(width: int = 320, height: int = 200) -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), (235, 240, 250))
    ImageDraw.Draw(image).rectangle((40, 40, width - 40, height - 40), fill=(60, 90, 200))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


@dataclass
class Audit:
    scheme: str
    found: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    views: list[str] = field(default_factory=list)

    async def check(self, page: Page, view: str, *, spa: bool = True) -> None:
        """Run axe on what the page shows now and keep its serious and critical findings."""
        if spa:
            await expect(page.locator("html")).to_have_attribute("data-theme", self.scheme)
        await page.evaluate("document.fonts.ready.then(() => true)")
        await page.wait_for_function("() => typeof axe !== 'undefined'")
        result: dict[str, Any] = await page.evaluate(RUN_AXE, AXE_OPTIONS)
        self.views.append(view)
        for violation in result["violations"]:
            if violation["impact"] not in BLOCKING:
                continue
            rule = violation["id"]
            self.counts[rule] = self.counts.get(rule, 0) + len(violation["nodes"])
            for node in violation["nodes"]:
                target = " ".join(str(t) for t in node["target"])
                why = (node.get("failureSummary") or "").replace("\n", " ")[:220]
                self.found.append(f"{view} [{self.scheme}] {rule}: {target} | {why}")

    def report(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        summary = {"views": self.views, "counts": self.counts, "violations": self.found}
        path = ARTIFACTS / f"axe-{name}-{self.scheme}.json"
        path.write_text(json.dumps(summary, indent=1, ensure_ascii=False), encoding="utf-8")
        assert not self.found, (
            f"{len(self.found)} serious or critical accessibility findings over"
            f" {len(self.views)} views ({self.counts}):\n" + "\n".join(self.found)
        )


async def new_page(contexts: Contexts, scheme: str, server: Server | None = None) -> Page:
    assert AXE.is_file(), f"{AXE} is missing: npm ci in appliance/web/spa (make build does)"
    context = await contexts.new(server, None, scheme)
    await context.add_init_script(path=str(AXE))
    await context.add_init_script(
        f"try {{ ({CHOOSE_THEME})({json.dumps(scheme)}) }} catch (e) {{}}"
    )
    return await context.new_page()


async def sign_in_page(page: Page, client: Client) -> None:
    cookies = client.http.cookie_jar.filter_cookies(URL(client.base_url))
    await page.context.add_cookies(
        [{"name": n, "value": m.value, "url": client.base_url} for n, m in cookies.items()]
    )


async def upload(client: Client, name: str, data: bytes, kind: str) -> int:
    form = aiohttp.FormData()
    form.add_field("file", data, filename=name, content_type=kind)
    async with client.http.post(client.base_url + "/api/uploads", data=form) as resp:
        assert resp.status in (200, 201), await resp.text()
        return int((await resp.json())["upload"]["id"])


@dataclass
class Scene:
    admin: Client
    room: int
    root: int


async def make_scene(root_admin: Client, make_user: UserFactory) -> Scene:
    """A lively channel: six people (six avatar colours), markdown, code, a mention,
    reactions, a picture and a PDF, a thread; and a direct conversation. Seen by an admin
    of its own (the session's admin is shared with other tests)."""
    admin = await make_user("a11yadmin")
    await root_admin.call("PATCH", f"/api/admin/users/{admin.id}", {"admin": True})
    admin.user = (await admin.get("/api/me"))["user"]
    await admin.call("PATCH", "/api/me", {"display_name": "Ada Admin"})
    names = ["Bob Nakamura", "Carol Díaz", "Dan Okafor", "Erin Walsh", "Femi Adeyemi"]
    people = []
    for i, name in enumerate(names):
        client = await make_user(f"a11y{i}")
        await client.call("PATCH", "/api/me", {"display_name": name})
        people.append(client)
    room = (await new_room(admin, *people, kind="channel", name=f"platform-{admin.id}"))["id"]
    await admin.call("PATCH", f"/api/rooms/{room}", {"topic": "Deploys, on-call and tooling"})
    await new_room(admin, people[0], kind="direct")
    socks = await asyncio.gather(admin.connect(), *(p.connect() for p in people))
    a, b, c, d, e, f = socks
    await b.send_message(room, "Morning! The **staging deploy** is green :tada:")
    await c.send_message(room, "Changelog: https://example.invalid/changelog")
    root = await a.send_message(room, "Release plan:\n1. bump the version\n2. notes\n\n> ship it")
    await b.send_message(room, "I'll take the notes", thread=root["id"])
    await c.send_message(room, f"@{admin.user['username']} and the version", thread=root["id"])
    code = await d.send_message(room, CODE)
    picture = await upload(people[3], "diagram.png", a_png(), "image/png")
    pdf = await upload(people[3], "runbook.pdf", a_pdf(), "application/pdf")
    await e.send_message(room, "The diagram and the runbook", attachments=[picture, pdf])
    await f.send_message(room, f"@{admin.user['username']} could you review `backoff()`?")
    for sock, msg, emoji in ((a, code, "👍"), (c, code, "👍"), (e, code, "🎉"), (f, root, "✅")):
        await sock.ok({"type": "reaction.set", "message": msg["id"], "emoji": emoji, "on": True})
    await a.send_message(room, "Looks good to me")
    return Scene(admin, room, root["id"])


@pytest.mark.parametrize("scheme", SCHEMES)
async def test_the_app_has_no_serious_axe_violations(
    scheme: str, contexts: Contexts, admin: Client, make_user: UserFactory
) -> None:
    audit = Audit(scheme)

    page = await new_page(contexts, scheme)
    await page.goto("/login")
    await expect(page.get_by_test_id("login-submit")).to_be_visible()
    await audit.check(page, "sign-in")
    await page.goto("/register")
    await expect(page.locator("form")).to_be_visible()
    await audit.check(page, "register")

    scene = await make_scene(admin, make_user)
    await sign_in_page(page, scene.admin)
    await page.goto(f"/rooms/{scene.room}")
    timeline = room_list(page)
    await expect(message(timeline, "Looks good to me")).to_be_visible(timeout=SLOW)
    await expect(
        message(timeline, "The retry helper").locator("pre code span").first
    ).to_be_visible()
    await expect(message(timeline, "The diagram").locator("img").first).to_be_visible(timeout=SLOW)
    await page.mouse.move(1, 799)  # no hover toolbar
    await audit.check(page, "room")

    await page.get_by_test_id("room-settings-button").click()
    await expect(page.get_by_role("dialog")).to_be_visible()
    await audit.check(page, "room settings")
    await page.keyboard.press("Escape")
    await expect(page.get_by_role("dialog")).to_have_count(0)

    room_view = page.get_by_test_id("room-view")
    await room_view.get_by_test_id("composer-emoji").click()
    await expect(page.get_by_test_id("emoji-picker")).to_be_visible()
    await audit.check(page, "emoji picker")
    await page.keyboard.press("Escape")
    await expect(page.get_by_test_id("emoji-picker")).to_have_count(0)

    for opener, view in (("create-channel", "new channel"), ("create-direct", "new direct")):
        await page.get_by_test_id(opener).click()
        await expect(page.get_by_role("dialog")).to_be_visible()
        await audit.check(page, view)
        await page.keyboard.press("Escape")
        await expect(page.get_by_role("dialog")).to_have_count(0)

    await page.get_by_test_id(f"thread-link-{scene.root}").click()
    panel = page.get_by_test_id("thread-panel")
    await expect(message(panel, "and the version")).to_be_visible()
    await audit.check(page, "thread")

    await page.goto("/search?q=version")
    await expect(page.locator("[data-testid^='search-result-']").first).to_be_visible()
    await audit.check(page, "search")

    await page.goto("/settings")
    await expect(page.get_by_test_id("profile-display-name")).to_have_value("Ada Admin")
    await audit.check(page, "settings")

    await page.goto("/browse")
    await expect(page.get_by_role("heading", level=1)).to_be_visible()
    await audit.check(page, "browse")

    for tab, ready in (
        ("users", "admin-users"),
        ("access", "admin-access"),
        ("device", "admin-device"),
        ("backups", "admin-backups"),
        ("mail", "admin-mail"),
        ("logs", "log-lines"),
        ("about", "admin-about"),
    ):
        await page.goto(f"/admin/{tab}")
        await expect(page.get_by_test_id(ready)).to_be_visible(timeout=SLOW)
        if tab == "logs":
            lines = page.get_by_test_id("log-lines")
            await expect(lines.locator("li").first).to_be_visible()
            # The scrolled list is reached by keyboard, right after Refresh.
            await page.get_by_test_id("log-refresh").focus()
            await page.keyboard.press("Tab")
            await expect(lines).to_be_focused()
        await audit.check(page, f"admin {tab}")

    await page.goto(f"/rooms/{scene.room}/board")
    board = page.get_by_test_id("board-view")
    await expect(board).to_have_attribute("data-state", "open", timeout=SLOW)
    await audit.check(page, "board")

    audit.report("app")


async def _claim(srv: Server) -> str:
    return (srv.data / "claim-code.txt").read_text().strip()


@pytest.mark.parametrize("scheme", SCHEMES)
async def test_the_wizard_has_no_serious_axe_violations(
    scheme: str, make_server: Callable[..., Server], contexts: Contexts
) -> None:
    srv = make_server(setup=False)
    audit = Audit(scheme)
    page = await new_page(contexts, scheme, srv)
    await page.goto("/setup")
    await audit.check(page, "wizard claim", spa=False)
    await page.get_by_label("Claim code").fill("AAAA-AAAA")
    await page.get_by_role("button", name="Continue").click()
    await expect(page.get_by_role("alert")).to_contain_text("not the claim code")
    await audit.check(page, "wizard claim error", spa=False)
    await page.get_by_label("Claim code").fill(await _claim(srv))
    await page.get_by_role("button", name="Continue").click()
    await expect(page).to_have_url(f"{srv.url}/setup/organisation")
    await audit.check(page, "wizard organisation", spa=False)
    await page.get_by_label("Organisation name").fill("Acme Ltd")
    await page.get_by_label("Admin username").fill("boss")
    await page.get_by_label("Password", exact=True).fill("owner-password-1")
    await page.get_by_label("Password again").fill("owner-password-1")
    await page.get_by_role("button", name="Continue").click()
    await expect(page).to_have_url(f"{srv.url}/setup/device")
    await audit.check(page, "wizard device", spa=False)
    await page.get_by_label("Device name").fill("acme-chat")
    await page.get_by_role("button", name="Continue").click()
    await expect(page).to_have_url(f"{srv.url}/setup/security")
    await audit.check(page, "wizard security", spa=False)
    await page.get_by_role("button", name="Continue").click()
    await expect(page).to_have_url(f"{srv.url}/setup/access")
    await audit.check(page, "wizard access", spa=False)
    await page.get_by_label("With an invite link").check()
    await page.get_by_role("button", name="Finish setup").click()
    await expect(page).to_have_url(f"{srv.url}/setup/done")
    await audit.check(page, "wizard done", spa=False)
    audit.report("wizard")


@pytest.fixture
async def trust_site(tmp_path: Path) -> AsyncIterator[str]:
    """The plain-HTTP side of an appliance (it serves /trust) with a real device CA."""

    async def device_name() -> str:
        return "acme-chat"

    device = DeviceTls(tmp_path, device_name=device_name, addresses=lambda: [])
    await device.check()
    app = build_redirect_app(device, https_port=8443)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


@pytest.mark.parametrize("scheme", SCHEMES)
async def test_the_trust_page_is_accessible_and_follows_dark_mode(
    scheme: str, trust_site: str, contexts: Contexts
) -> None:
    audit = Audit(scheme)
    page = await new_page(contexts, scheme)
    await page.goto(f"{trust_site}/trust")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Trust this Pychat device")
    await audit.check(page, "trust", spa=False)
    # One main region holds the content (screen readers jump to it), and the page is dark
    # when the system is: it was a white page in a dark office.
    main = await page.get_by_role("main").count()
    dark_page = await page.evaluate(
        """() => {
          const [r, g, b] = getComputedStyle(document.body).color.match(/\\d+/g).map(Number)
          return (r + g + b) / 3 > 128  // light text: a dark page
        }"""
    )
    if main != 1:
        audit.found.append(f"trust [{scheme}] no main landmark")
    if dark_page != (scheme == "dark"):
        audit.found.append(f"trust [{scheme}] the background ignores the {scheme} scheme")
    audit.report("trust")
