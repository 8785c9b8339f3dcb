"""A damaged data folder (issue 13, item 7), against the real `pychat serve`: a missing or
empty database beside uploaded files, or a corrupt one, stops start-up with a one-line
diagnosis and a non-zero exit (never a fresh start that sweeps the files away, never a
hang); a damaged middle page is reported on the admin storage page and a backup is refused
with a clear error."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.client import Client
from tests.conftest import TEST_ENV, new_room
from tests.integration.uploading import upload
from tests.server import ADMIN_PASSWORD, Server, pychat

PAGE = 4096
NEEDS_A_PERSON = 3  # the exit status systemd does not restart on (systemd/pychat.service)
TWO_HOURS_AGO = time.time() - 7200  # older than any grace period the file sweep allows


def files_on_disk(data: Path) -> dict[str, str]:
    """Every file under files/ with its SHA-256."""
    root = data / "files"
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


async def device_with_files(srv: Server) -> None:
    """A set-up device with uploaded files, some sent in a message, all of them old."""
    admin = await Client(srv.url).login("admin", ADMIN_PASSWORD)
    try:
        room = (await new_room(admin))["id"]
        sent = await upload(admin, os.urandom(5000), name="report.pdf")
        await upload(admin, os.urandom(3000), name="draft.bin")
        sock = await admin.connect()
        await sock.send_message(room, "the report", attachments=[sent["id"]])
    finally:
        await admin.close()
    assert srv.stop() == 0
    for p in (srv.data / "files").rglob("*"):
        os.utime(p, (TWO_HOURS_AGO, TWO_HOURS_AGO))


def serve_until_exit(data: Path) -> subprocess.CompletedProcess[str]:
    """`pychat serve` on a data folder it must refuse: it exits by itself (a hang or a
    fresh start fails the test by timing out)."""
    return pychat("serve", "--listen", "127.0.0.1:0", data=data, env=TEST_ENV)


def assert_one_line_diagnosis(
    done: subprocess.CompletedProcess[str], *words: str, status: int = NEEDS_A_PERSON
) -> str:
    assert done.returncode == status, done.stdout + done.stderr
    output = done.stdout + done.stderr
    assert "Traceback" not in output, output
    lines = [line for line in done.stderr.splitlines() if line.startswith("pychat:")]
    assert len(lines) == 1, output
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def checkpoint(db: Path) -> None:
    """Fold the WAL into the database file, so garbage written over it stays there."""
    conn = sqlite3.connect(db)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def overwrite_page(db: Path, page: int) -> None:
    """Garbage over one page (numbered from 1, as SQLite does)."""
    with db.open("r+b") as f:
        f.seek((page - 1) * PAGE)
        f.write(bytes(range(256)) * (PAGE // 256))


# -- a missing or empty database beside uploaded files ----------------------------------------


def _make_blank_database(db: Path) -> None:
    db.unlink()
    sqlite3.connect(db).close()  # a valid SQLite file with no tables


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda db: db.unlink(), id="missing"),
        pytest.param(lambda db: db.write_bytes(b""), id="empty"),
        pytest.param(_make_blank_database, id="no-tables"),
    ],
)
async def test_a_device_whose_database_is_gone_refuses_to_start_and_keeps_its_files(
    make_server: Callable[..., Server], damage: Callable[[Path], None]
) -> None:
    srv = make_server()
    await device_with_files(srv)
    before = files_on_disk(srv.data)
    assert len(before) >= 2
    damage(srv.data / "pychat.db")

    done = serve_until_exit(srv.data)

    line = assert_one_line_diagnosis(done, "restore", "factory-reset")
    assert "files" in line
    assert files_on_disk(srv.data) == before


# -- a corrupt database -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offset", "length"),
    [pytest.param(0, 100, id="header"), pytest.param(100, PAGE - 100, id="schema")],
)
async def test_a_corrupt_database_exits_with_a_one_line_diagnosis(
    make_server: Callable[..., Server], offset: int, length: int
) -> None:
    srv = make_server()
    await device_with_files(srv)
    db = srv.data / "pychat.db"
    checkpoint(db)
    before = files_on_disk(srv.data)
    with db.open("r+b") as f:
        f.seek(offset)
        f.write(b"\xa5" * length)

    done = serve_until_exit(srv.data)

    assert_one_line_diagnosis(done, "damaged", "restore")
    assert files_on_disk(srv.data) == before


# -- a damaged middle page --------------------------------------------------------------------


async def fill_messages(srv: Server) -> None:
    """Enough messages to fill several pages of the messages table."""
    admin = await Client(srv.url).login("admin", ADMIN_PASSWORD)
    try:
        storage = await admin.get("/api/admin/storage")
        assert storage["integrity"]["status"] == "ok"
        room = (await new_room(admin))["id"]
        sock = await admin.connect()
        for n in range(60):
            await sock.send_message(room, f"message {n} " + "x" * 1500)
    finally:
        await admin.close()


def damage_a_middle_page_of_messages(db: Path) -> None:
    checkpoint(db)
    conn = sqlite3.connect(db)
    try:
        leaves = [
            page
            for (page,) in conn.execute(
                "SELECT pageno FROM dbstat WHERE name = 'messages' AND pagetype = 'leaf'"
                " ORDER BY pageno"
            )
        ]
    finally:
        conn.close()
    assert len(leaves) >= 3
    overwrite_page(db, leaves[len(leaves) // 2])


async def assert_backup_refused_as_damaged(admin: Client) -> None:
    status, body = await admin.call("GET", "/api/admin/backup")
    assert status == 409, (status, body)
    assert body["error"]["code"] == "database_damaged", body
    assert "damaged" in body["error"]["message"]


async def test_a_damaged_middle_page_is_reported_and_backups_are_refused_clearly(
    make_server: Callable[..., Server], tmp_path: Path
) -> None:
    srv = make_server()
    await fill_messages(srv)
    assert srv.stop() == 0
    damage_a_middle_page_of_messages(srv.data / "pychat.db")

    srv.start()  # a damaged page of messages does not stop the device
    admin = await Client(srv.url).login("admin", ADMIN_PASSWORD)
    try:
        storage = await admin.get("/api/admin/storage")
        integrity = storage["integrity"]
        assert integrity["status"] == "damaged", integrity
        assert integrity["problems"], integrity
        assert "backup" in integrity["message"]
        await assert_backup_refused_as_damaged(admin)
    finally:
        await admin.close()
    assert srv.stop() == 0

    # The command-line backup says the same, in one line.
    done = pychat("backup", "--out", str(tmp_path / "copy.db"), data=srv.data)
    assert_one_line_diagnosis(done, "damaged", status=1)
    assert not (tmp_path / "copy.db").exists()


async def test_damage_a_backup_finds_while_serving_is_reported_on_the_storage_page(
    make_server: Callable[..., Server],
) -> None:
    srv = make_server()
    await fill_messages(srv)
    damage_a_middle_page_of_messages(srv.data / "pychat.db")  # the card fails under it

    admin = await Client(srv.url).login("admin", ADMIN_PASSWORD)
    try:
        await assert_backup_refused_as_damaged(admin)
        integrity = (await admin.get("/api/admin/storage"))["integrity"]
        assert integrity["status"] == "damaged", integrity
    finally:
        await admin.close()
