"""The admin's storage page says when the search index was found corrupt and rebuilt (issue
19): nothing is shown while it never was; after a rebuild, how often and when."""

from __future__ import annotations

from playwright.async_api import expect

from tests.client import Client
from tests.conftest import new_room
from tests.e2e.conftest import ContextFactory
from tests.e2e.helpers import SLOW
from tests.search_index import break_search_index
from tests.server import Server


async def test_the_storage_page_says_when_the_search_index_was_rebuilt(
    open_as: ContextFactory, admin: Client, server: Server
) -> None:
    room = (await new_room(admin))["id"]
    _, page = await open_as(admin)
    await page.goto("/admin/backups")
    await expect(page.get_by_test_id("storage-integrity")).to_be_visible(timeout=SLOW)
    await expect(page.get_by_test_id("storage-search-index")).to_have_count(0)

    break_search_index(server.data / "pychat.db")
    sock = await admin.connect()
    await sock.send_message(room, "sent on a broken index")  # acknowledged: rebuilt first

    await page.reload()
    row = page.get_by_test_id("storage-search-index")
    await expect(row).to_contain_text("Rebuilt", timeout=SLOW)
    await expect(row).to_contain_text("1 time since the server started")
    await expect(row).to_contain_text("nothing was lost")
