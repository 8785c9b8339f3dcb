"""Browser end-to-end fixtures: Playwright driving Debian's Chromium against the real server.

Recipes from ../shared/testing.md: launch the real binary, keep Chromium off the network,
merge our --disable-features with Playwright's own list (Chromium honours only the last
flag), one browser with one context per user.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import playwright
import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from appliance.web.static import STATIC_DIR
from tests.client import Client
from tests.server import Server

CHROMIUM = Path("/usr/lib/chromium/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
OUR_DISABLED_FEATURES = ["WebRtcHideLocalIpsWithMdns"]
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
    "--disable-default-apps",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--autoplay-policy=no-user-gesture-required",
]


def playwright_disabled_features() -> list[str]:
    bundle = Path(playwright.__file__).parent / "driver/package/lib/coreBundle.js"
    text = bundle.read_text(encoding="utf-8")
    block = re.search(r"disabledFeatures = \[(.*?)\];", text, re.DOTALL)
    if block is None:
        return []
    without_comments = re.sub(r"//[^\n]*", "", block.group(1))
    return re.findall(r'"([A-Za-z0-9_]+)"', without_comments)


@pytest.fixture(scope="session")
def base_url() -> str:
    # pytest-playwright wants this fixture; our pages use the server fixture's URL.
    return ""


@pytest.fixture(scope="session")
def built_app() -> Path:
    index = STATIC_DIR / "index.html"
    assert index.is_file(), "the web app is not built: run `make build` (make test does)"
    return STATIC_DIR


@pytest.fixture
async def browser(built_app: Path) -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    features = ",".join([*playwright_disabled_features(), *OUR_DISABLED_FEATURES])
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[*FLAGS, f"--disable-features={features}"],
        )
        yield browser
        await browser.close()


ContextFactory = Callable[[Client], Awaitable[tuple[BrowserContext, Page]]]


@pytest.fixture
async def open_as(browser: Browser, server: Server) -> AsyncIterator[ContextFactory]:
    """A browser context logged in as the given API client's user, on the app's home."""
    contexts: list[BrowserContext] = []

    async def open_page(
        user: Client, *, viewport: dict[str, int] | None = None
    ) -> tuple[BrowserContext, Page]:
        context = await browser.new_context(
            base_url=server.url, viewport=viewport or {"width": 1280, "height": 800}
        )
        contexts.append(context)
        cookies = user.http.cookie_jar.filter_cookies(server.url)  # type: ignore[arg-type]
        await context.add_cookies(
            [
                {"name": name, "value": morsel.value, "url": server.url}
                for name, morsel in cookies.items()
            ]
        )
        page = await context.new_page()
        await page.goto("/")
        return context, page

    yield open_page
    for context in contexts:
        await context.close()


def screenshot_path(name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / f"{name}.png"
