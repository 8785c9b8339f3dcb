"""The admin's Web Push switch (issue 16): off by default, saying in words exactly what
leaves the building, and turning it on is what lets devices subscribe."""

from __future__ import annotations

from collections.abc import Callable

from playwright.async_api import expect

from tests.client import Client
from tests.e2e.conftest import ContextFactory
from tests.server import ADMIN_PASSWORD, Server

WHAT_LEAVES = (
    "an encrypted payload to the browser vendor's push service (Google, Mozilla, Apple) "
    "over the internet"
)


async def test_the_admin_turns_web_push_on_knowing_what_leaves_the_building(
    make_server: Callable[..., Server], open_as: ContextFactory
) -> None:
    srv = make_server()
    admin = await Client(srv.url).login("admin", ADMIN_PASSWORD)
    try:
        assert await admin.get("/api/push/key") == {"enabled": False, "key": None}
        _, page = await open_as(admin, server=srv, path="/admin/device")
        section = page.get_by_test_id("device-push")
        await expect(section).to_contain_text(WHAT_LEAVES)
        switch = section.get_by_test_id("push-enabled")
        await expect(switch).not_to_be_checked()
        await expect(section.get_by_test_id("push-counts")).to_have_text("0 devices subscribed.")

        await switch.check()
        await expect(section.get_by_test_id("push-note")).to_contain_text("On:")
        found = await admin.get("/api/push/key")
        assert found["enabled"] is True and found["key"]

        await page.reload()
        await expect(page.get_by_test_id("push-enabled")).to_be_checked()
        await page.get_by_test_id("push-enabled").uncheck()
        await expect(page.get_by_test_id("push-note")).to_contain_text("nothing more is sent")
        assert (await admin.get("/api/push/key"))["enabled"] is False
    finally:
        await admin.close()
