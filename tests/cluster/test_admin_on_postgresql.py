"""The admin area of a node on PostgreSQL says what it is: the database's own size and
version, and no appliance backup of a SQLite file that is not the data (one left from
before `pychat migrate` would be stale): backups, restores and USB drives are refused,
saying what to use instead, and so are `pychat backup` and `pychat restore`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from playwright.async_api import async_playwright, expect
from yarl import URL

from appliance.backup.restore import PENDING, READY
from tests.client import Client
from tests.cluster.serving import NodeFactory, make_people
from tests.e2e.conftest import CHROMIUM, FLAGS
from tests.integration.test_admin_backup import leftovers
from tests.integration.test_admin_backup import upload as upload_backup
from tests.integration.uploading import fetch, upload
from tests.server import ADMIN_PASSWORD, Server, pychat


async def test_the_admin_area_on_postgresql_tells_the_truth_and_makes_no_sqlite_backup(
    nodes: NodeFactory, database_url: str
) -> None:
    node = nodes()
    admin = await Client(node.url).login("admin", ADMIN_PASSWORD)
    try:
        version = await admin.get("/api/admin/version")
        assert version["engine"] == "postgresql" and version["engine_version"].startswith("15")
        assert version["schema_version"] == version["newest_schema_version"] >= 2

        storage = await admin.get("/api/admin/storage")
        assert storage["engine"] == "postgresql" and storage["database_bytes"] > 1 << 20
        assert storage["integrity"]["checked_at"] is None
        assert "PostgreSQL" in storage["integrity"]["message"]

        status = await admin.get("/api/admin/backup/status")
        assert status["engine"] == "postgresql" and "pg_dump" in status["on_postgresql"]
        assert status["usb"]["configured"] is False and status["restore_pending"] is None

        async with admin.http.get(node.url + "/api/admin/backup") as r:
            assert r.status == 409 and "pg_dump" in (await r.json())["error"]["message"]
        code, body = await admin.call("POST", "/api/admin/backup/usb")
        assert (code, body["error"]["code"]) == (409, "conflict"), body
        code, body = await upload_backup(admin, b"\x1f\x8b not even read", dry_run=False)
        assert code == 409 and "pg_dump" in body["error"]["message"], body
        assert (await admin.get("/api/admin/backup/status"))["restore_pending"] is None
        assert leftovers(node.data) == []
        await _the_pages_say_so(node, admin)
    finally:
        await admin.close()

    out = node.data.parent / "backup.tar.gz"
    # With the URL, and without it (as on a machine where nodes get it by --database): the
    # data folder says where its data is.
    for url in (database_url, ""):
        for args in (["backup", "--out", str(out)], ["restore", str(out)], ["factory-reset"]):
            done = pychat(*args, data=node.data, env={"PYCHAT_DATABASE_URL": url})
            assert done.returncode == 2 and "pg_dump" in done.stderr, done
    assert not out.exists()
    # Nor does any command open the SQLite file left from before the move without the URL.
    done = pychat("user", "list", data=node.data, env={"PYCHAT_DATABASE_URL": ""})
    assert done.returncode == 2 and "data is in PostgreSQL" in done.stderr, done


async def test_a_restore_staged_before_the_move_is_not_applied_by_a_node(
    nodes: NodeFactory, people: Callable[[Server, str], Any]
) -> None:
    """A restore staged on the appliance before `pychat migrate` would put SQLite's file
    back and move the shared folder's files aside under the nodes: a node leaves it."""
    first = nodes()
    (alice_name,) = await make_people(first, "alice")
    alice = await people(first, alice_name)
    picture = await upload(alice, b"kept whatever was staged")
    staged = first.data / PENDING
    staged.mkdir()
    (staged / READY).write_text("{}")
    second = nodes()  # starts with the restore staged
    bob_side = await people(second, alice_name)
    status, got, _ = await fetch(bob_side, picture["url"])
    assert status == 200 and got == b"kept whatever was staged"
    assert (staged / READY).is_file() and not (first.data / "restore-previous").exists()


async def _the_pages_say_so(node: Server, admin: Client) -> None:
    """The admin's pages, in Chromium: the backups page says to use pg_dump and offers no
    download, upload or drive; the about page names PostgreSQL."""
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            context = await browser.new_context(base_url=node.url)
            cookies = admin.http.cookie_jar.filter_cookies(URL(node.url))
            await context.add_cookies(
                [{"name": k, "value": m.value, "url": node.url} for k, m in cookies.items()]
            )
            page = await context.new_page()
            await page.goto("/admin/backups")
            await expect(page.get_by_test_id("backup-on-postgresql")).to_contain_text("pg_dump")
            await expect(page.get_by_test_id("storage-integrity")).to_contain_text("PostgreSQL")
            for offered in ("backup-download", "admin-usb", "admin-restore"):
                await expect(page.get_by_test_id(offered)).to_have_count(0)
            await page.goto("/admin/about")
            await expect(page.get_by_test_id("admin-about")).to_contain_text("PostgreSQL")
        finally:
            await browser.close()
