"""Real browsers tell a device without a time server their time: the setup wizard's pages
once the claim code is accepted, and a signed-in admin's app. The browser's clock is moved
90 days ahead (Playwright's clock), as if the device had booted at its image's build date.

There is no privileged helper on a test machine, so the device cannot set its clock: the
answer says `unavailable` (or `synchronized` where timesyncd runs), and the server's log
shows the attempt. The helper's side is tested in tests/integration/test_clock_browsers.py.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from playwright.async_api import Page, expect

from appliance.system.clock import timesyncd_synchronized
from tests.e2e.conftest import Contexts
from tests.server import ADMIN_PASSWORD, Server

AHEAD = timedelta(days=90)
ENV = {"PYCHAT_CLOCK_FROM_BROWSERS": "on"}  # on in development mode too


def _expected_reason() -> str:
    return "synchronized" if timesyncd_synchronized() else "unavailable"


async def _check_report(
    page: Page, srv: Server, path: str, action: Callable[[], Awaitable[None]]
) -> None:
    async with page.expect_response(lambda r: r.url == f"{srv.url}{path}") as info:
        await action()
    response = await info.value
    assert response.status == 200
    body = await response.json()
    assert body["set"] is False and body["reason"] == _expected_reason(), body
    ahead_ms = AHEAD.total_seconds() * 1000
    assert abs(body["browser_ahead_ms"] - ahead_ms) < 60_000, body


async def test_the_wizard_reports_the_owners_time_after_the_claim_code(
    make_server: Callable[..., Server], contexts: Contexts
) -> None:
    srv = make_server(ENV, setup=False)
    context = await contexts.new(srv, None, None)
    await context.clock.install(time=datetime.now(UTC) + AHEAD)
    page = await context.new_page()
    await page.goto("/setup")
    claim = (srv.data / "claim-code.txt").read_text().strip()
    await page.get_by_label("Claim code").fill(claim)

    async def claim_it() -> None:
        await page.get_by_role("button", name="Continue").click()

    await _check_report(page, srv, "/setup/clock", claim_it)
    await expect(page).to_have_url(f"{srv.url}/setup/organisation")
    if _expected_reason() == "unavailable":
        assert "could not set the clock from a browser: unavailable" in srv.log()


async def test_an_admins_app_reports_its_time_and_the_device_page_shows_the_clock(
    make_server: Callable[..., Server], contexts: Contexts
) -> None:
    srv = make_server(ENV)
    context = await contexts.new(srv, None, None)
    await context.clock.install(time=datetime.now(UTC) + AHEAD)
    page = await context.new_page()
    await page.goto("/login")
    await page.get_by_test_id("login-username").fill("admin")
    await page.get_by_test_id("login-password").fill(ADMIN_PASSWORD)

    async def sign_in() -> None:
        await page.get_by_test_id("login-submit").click()

    await _check_report(page, srv, "/api/admin/clock", sign_in)
    await page.goto("/admin/device")
    clock = page.get_by_test_id("device-clock")
    if _expected_reason() == "unavailable":
        await expect(clock).to_have_text(re.compile("not synchronised.*admins' browsers"))
    else:
        await expect(clock).to_contain_text("synchronised by a time server")
