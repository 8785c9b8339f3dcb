"""Browser end-to-end fixtures: Playwright driving Debian's Chromium against the real server.

Recipes proven on Debian 12 (tests/e2e/README.md): launch the real binary, keep Chromium off
the network, merge our --disable-features with Playwright's own list (Chromium honours only the last
flag), one browser with one context per user.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import uuid
from collections import deque
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path
from typing import Protocol

import playwright
import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    async_playwright,
    expect,
)
from playwright.async_api import Error as PlaywrightError
from yarl import URL

from appliance.web.static import STATIC_DIR
from tests.client import Client
from tests.conftest import TEST_ENV, USER_PASSWORD
from tests.server import ADMIN_PASSWORD, Server, free_port, init_data

# Twice Playwright's default: a 2-core CI machine runs a server and several pages at once.
expect.set_options(timeout=10_000)

CHROMIUM = Path("/usr/lib/chromium/chromium")
CALL_FAILED = pytest.StashKey[bool]()
CONSOLE_LINES_KEPT = 60
SERVER_LINES_SHOWN = 60
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


VETH = ("pychat-e2e0", "pychat-e2e1")


def loopback_only_namespace() -> bool:
    """Whether this process runs in a network namespace of its own (`unshare -n`) that has
    only `lo`. sysfs still lists the interfaces of the namespace it was mounted in, so a
    difference between it and what the kernel tells us here means we are in another one."""
    here = {name for _, name in socket.if_nameindex()}
    if here != {"lo"}:
        return False
    try:
        if os.stat("/proc/self/ns/net").st_ino != os.stat("/proc/1/ns/net").st_ino:
            return True
    except OSError:
        pass  # /proc/1 may be out of reach in a container
    try:
        mounted_in = set(os.listdir("/sys/class/net"))
    except OSError:
        return False
    return bool(mounted_in - here)


def veth_addresses() -> set[str]:
    """The addresses on our veth pair (`chromium_sees_a_network`), as "name address/prefix"."""
    found: set[str] = set()
    for name in VETH:
        shown = subprocess.run(
            ["ip", "-j", "addr", "show", "dev", name], check=True, capture_output=True, text=True
        )
        for link in json.loads(shown.stdout):
            for info in link.get("addr_info", []):
                found.add(f"{name} {info['local']}/{info['prefixlen']}")
    return found


@pytest.fixture(scope="package", autouse=True)
def chromium_sees_a_network() -> Iterator[set[str] | None]:
    """In a loopback-only namespace Chromium says `navigator.onLine === false` (it ignores
    `lo`), so the app would believe it is offline while connected. A veth pair with a
    documentation address (TEST-NET-1, no route anywhere) inside our own namespace makes
    Chromium see a network; nothing can leave the namespace. Outside a namespace of our
    own, the machine's real interfaces do the same and we touch nothing. Package scope: the
    pair is gone before other suites (WebRTC, discovery) that want loopback only run.

    The network must be final when the fixture returns: Chromium aborts every request in
    flight with ERR_NETWORK_CHANGED when an address appears. The kernel would give each end
    an IPv6 link-local address a second or two after it comes up (once duplicate address
    detection is done), in the middle of the first browser test; `addrgenmode none` keeps
    it from making one, so all the changes happen before we return. Yields the pair's
    addresses as they were then (None outside a namespace of our own)."""
    if not loopback_only_namespace():
        yield None
        return
    a, b = VETH
    for cmd in (
        ["ip", "link", "add", a, "type", "veth", "peer", "name", b],
        ["ip", "link", "set", a, "addrgenmode", "none"],
        ["ip", "link", "set", b, "addrgenmode", "none"],
        ["ip", "addr", "add", "192.0.2.1/24", "dev", a],
        ["ip", "link", "set", a, "up"],
        ["ip", "link", "set", b, "up"],
    ):
        subprocess.run(cmd, check=True, capture_output=True)
    yield veth_addresses()
    subprocess.run(["ip", "link", "del", a], check=False, capture_output=True)


@pytest.fixture(scope="session")
def base_url() -> str:
    # pytest-playwright wants this fixture; our pages use the server fixture's URL.
    return ""


@pytest.fixture(scope="session")
def built_app() -> Path:
    # PYCHAT_STATIC_DIR: the server (started with this environment) serves that build instead.
    built = Path(os.environ.get("PYCHAT_STATIC_DIR") or STATIC_DIR)
    index = built / "index.html"
    assert index.is_file(), "the web app is not built: run `make build` (make test does)"
    return built


@pytest.fixture
async def browser(built_app: Path) -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/debian-packages test (make test does)")
    features = ",".join([*playwright_disabled_features(), *OUR_DISABLED_FEATURES])
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[*FLAGS, f"--disable-features={features}"],
        )
        yield browser
        await browser.close()


class ContextFactory(Protocol):
    async def __call__(
        self,
        user: Client,
        *,
        server: Server | None = ...,
        viewport: dict[str, int] | None = ...,
        color_scheme: str | None = ...,
        path: str = ...,
        init_script: str | None = ...,
    ) -> tuple[BrowserContext, Page]: ...


class AnonymousFactory(Protocol):
    async def __call__(
        self,
        *,
        server: Server | None = ...,
        viewport: dict[str, int] | None = ...,
        color_scheme: str | None = ...,
    ) -> tuple[BrowserContext, Page]: ...


class Contexts:
    """Browser contexts of one test. Uncaught errors in the app and Content-Security-Policy
    violations are collected: the test fails on them at teardown. When a test fails, what each
    page showed is kept for the report (`report_failure`)."""

    def __init__(self, browser: Browser, server: Server) -> None:
        self.browser = browser
        self.server = server
        self.servers: list[Server] = [server]
        self.contexts: list[BrowserContext] = []
        self.page_errors: list[str] = []
        self.console_lines: deque[str] = deque(maxlen=CONSOLE_LINES_KEPT)

    async def new(
        self,
        server: Server | None,
        viewport: dict[str, int] | None,
        color_scheme: str | None,
    ) -> BrowserContext:
        srv = server or self.server
        if srv not in self.servers:
            self.servers.append(srv)
        size = viewport or {"width": 1280, "height": 800}
        context = await self.browser.new_context(
            base_url=srv.url,
            viewport={"width": size["width"], "height": size["height"]},
            color_scheme="dark" if color_scheme == "dark" else "light",
        )
        context.set_default_timeout(10_000)
        context.on("page", self.watch)
        self.contexts.append(context)
        return context

    def watch(self, page: Page) -> None:
        page.on("pageerror", lambda error: self.page_errors.append(f"{page.url}: {error}"))
        page.on("console", lambda msg: self.console(page, msg))

    def console(self, page: Page, msg: ConsoleMessage) -> None:
        self.console_lines.append(f"{page.url} [{msg.type}] {msg.text}")
        if "Content Security Policy" in msg.text:
            self.page_errors.append(f"{page.url}: {msg.text}")

    async def report_failure(self, test_name: str) -> None:
        """Print what the pages showed, where they were, and the servers' last log lines, and
        keep a screenshot of each page under test-artifacts/failures/: a failure on a CI machine
        must explain itself."""
        folder = ARTIFACTS / "failures"
        folder.mkdir(parents=True, exist_ok=True)
        safe = re.sub(r"[^\w.-]+", "_", test_name)
        for c, context in enumerate(self.contexts):
            for p, page in enumerate(context.pages):
                if page.is_closed():
                    continue
                shot = folder / f"{safe}-{c}-{p}.png"
                try:
                    await page.screenshot(path=shot, timeout=5_000)
                    text = await page.locator("body").inner_text(timeout=5_000)
                except PlaywrightError as error:
                    text = f"(page unreadable: {error.message})"
                print(f"--- page {c}.{p} at {page.url} ({shot.name}):\n{text[:1_500]}")
        print("--- browser console (newest last):\n" + "\n".join(self.console_lines))
        for srv in self.servers:
            tail = "".join(srv.output[-SERVER_LINES_SHOWN:])
            print(f"--- server {srv.url}, last lines of its log:\n{tail}")

    async def close(self) -> None:
        for context in self.contexts:
            await context.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if call.when == "call":
        item.stash[CALL_FAILED] = report.failed
    return report


@pytest.fixture
async def contexts(
    browser: Browser, server: Server, request: pytest.FixtureRequest
) -> AsyncIterator[Contexts]:
    made = Contexts(browser, server)
    yield made
    if request.node.stash.get(CALL_FAILED, False):
        await made.report_failure(request.node.name)
    await made.close()
    assert not made.page_errors, "errors in the pages:\n" + "\n".join(made.page_errors)


@pytest.fixture
async def open_as(contexts: Contexts) -> ContextFactory:
    """A browser context logged in as the given API client's user, on the app's home.

    `server` defaults to the session's server; the client must be logged in on it.
    """

    async def open_page(
        user: Client,
        *,
        server: Server | None = None,
        viewport: dict[str, int] | None = None,
        color_scheme: str | None = None,
        path: str = "/",
        init_script: str | None = None,
    ) -> tuple[BrowserContext, Page]:
        srv = server or contexts.server
        context = await contexts.new(srv, viewport, color_scheme)
        if init_script is not None:  # runs in every page before the app's own scripts
            await context.add_init_script(init_script)
        cookies = user.http.cookie_jar.filter_cookies(URL(srv.url))
        await context.add_cookies(
            [
                {"name": name, "value": morsel.value, "url": srv.url}
                for name, morsel in cookies.items()
            ]
        )
        page = await context.new_page()
        await page.goto(path)
        return context, page

    return open_page


@pytest.fixture
async def open_anonymous(contexts: Contexts) -> AnonymousFactory:
    """A browser context with no session, on the sign-in page."""

    async def open_page(
        *,
        server: Server | None = None,
        viewport: dict[str, int] | None = None,
        color_scheme: str | None = None,
    ) -> tuple[BrowserContext, Page]:
        context = await contexts.new(server, viewport, color_scheme)
        page = await context.new_page()
        await page.goto("/login")
        return context, page

    return open_page


def screenshot_path(name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / f"{name}.png"


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[Server]:
    """A server of the test's own on a fixed port, safe to stop and start again (the
    browser's origin stays the same)."""
    data = tmp_path / "own-data"
    data.mkdir()
    init_data(data)
    srv = Server(data, env={**TEST_ENV}, port=free_port()).start()
    yield srv
    srv.stop()


class OwnUserFactory(Protocol):
    async def __call__(self, prefix: str = ...) -> Client: ...


@pytest.fixture
async def make_own_user(own_server: Server) -> AsyncIterator[OwnUserFactory]:
    """Accounts on `own_server`, created through its admin API and logged in."""
    admin = await Client(own_server.url).login("admin", ADMIN_PASSWORD)
    clients = [admin]

    async def make(prefix: str = "u") -> Client:
        username = f"{prefix}{uuid.uuid4().hex[:8]}"
        await admin.post(
            "/api/admin/users", {"username": username, "password": USER_PASSWORD}, expect=201
        )
        client = Client(own_server.url)
        clients.append(client)
        return await client.login(username, USER_PASSWORD)

    yield make
    for client in clients:
        await client.close()
