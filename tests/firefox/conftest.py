"""The core browser scenarios in Debian's Firefox ESR, against Chromium (Playwright).

Firefox is driven over WebDriver BiDi by our own small client (driver.py); the Chromium
side reuses the e2e suite's fixtures, imported here so they apply to this package too
(`chromium_sees_a_network` included: Chromium needs it in a loopback-only namespace).
"""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path
from typing import Protocol

import pytest
from yarl import URL

from tests.client import Client
from tests.e2e.conftest import (  # noqa: F401 (fixtures for this package)
    CALL_FAILED,
    VETH,
    base_url,
    browser,
    built_app,
    chromium_sees_a_network,
    contexts,
    make_own_user,
    open_as,
    own_server,
)
from tests.firefox.driver import Firefox, FirefoxProcess, Tab
from tests.server import Server


@pytest.fixture(scope="package", autouse=True)
def a_default_route(chromium_sees_a_network: set[str] | None) -> None:  # noqa: F811
    """Firefox gathers no ICE candidate at all without a default route ("failed to find
    default addresses": it asks the kernel which address would reach the internet), so a
    call could never connect in our loopback-only namespace. A default route into the veth
    pair, set before any browser starts, answers it; still nothing can leave the namespace.
    (An office LAN has a router even with the internet unplugged; one without any default
    route would meet the same failure: see tests/firefox/README.md.)"""
    if chromium_sees_a_network is None:
        return
    subprocess.run(
        ["ip", "route", "add", "default", "dev", VETH[0]], check=True, capture_output=True
    )


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    # The e2e conftest's hook does not reach this package: record the outcome the same way.
    report = yield
    if call.when == "call":
        item.stash[CALL_FAILED] = report.failed
    return report


@pytest.fixture(scope="package")
def firefox_process(
    tmp_path_factory: pytest.TempPathFactory, a_default_route: None
) -> Iterator[FirefoxProcess]:
    """Headless Firefox ESR with a fresh profile, once for the package."""
    process = FirefoxProcess(tmp_path_factory.mktemp("firefox") / "profile")
    yield process
    process.stop()


@pytest.fixture
async def firefox(
    firefox_process: FirefoxProcess,
    built_app: Path,  # noqa: F811 (the e2e fixture: the app must be built)
    request: pytest.FixtureRequest,
) -> AsyncIterator[Firefox]:
    """A BiDi session of the test's own; the test fails on an uncaught error or a
    Content-Security-Policy violation in its pages."""
    made = await Firefox(firefox_process).start()
    yield made
    if request.node.stash.get(CALL_FAILED, False):
        print("--- Firefox console (newest last):\n" + "\n".join(made.console))
        print("--- Firefox output (newest last):\n" + "".join(made.output))
    await made.close()
    assert not made.page_errors, "errors in Firefox's pages:\n" + "\n".join(made.page_errors)


class FirefoxOpener(Protocol):
    async def __call__(
        self,
        user: Client,
        *,
        server: Server | None = ...,
        path: str = ...,
        width: int = ...,
        height: int = ...,
    ) -> Tab: ...


@pytest.fixture
def firefox_as(firefox: Firefox, server: Server) -> FirefoxOpener:
    """A Firefox tab signed in with the client's session cookie, on `path`."""

    async def open_tab(
        user: Client,
        *,
        server: Server | None = None,
        path: str = "/",
        width: int = 1280,
        height: int = 800,
    ) -> Tab:
        url = (server or default).url
        tab = await firefox.new_tab(width=width, height=height)
        for name, morsel in user.http.cookie_jar.filter_cookies(URL(url)).items():
            await tab.set_cookie(url, name, morsel.value)
        await tab.goto(url + path)
        return tab

    default = server
    return open_tab
