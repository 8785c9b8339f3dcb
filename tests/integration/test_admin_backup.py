"""Backups and restore through the admin API, against real servers: a backup taken while
messages are sent restores every acknowledged message (by restart and by `pychat
restore`); a malicious or damaged archive is refused by the dry run; USB drive backups."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import sqlite3
import subprocess
import sys
import tarfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from appliance.backup.restore import restore_offline
from tests.client import Client
from tests.conftest import TEST_ENV, USER_PASSWORD, new_room
from tests.senders import Sender
from tests.server import ADMIN_PASSWORD, Server

SHM = Path("/dev/shm")


async def room_history(client: Client, room: int) -> list[tuple[int, str]]:
    history: list[tuple[int, str]] = []
    path = f"/api/rooms/{room}/messages?limit=200"
    while True:
        page = await client.get(path)
        history[:0] = [(m["id"], m["body"]) for m in page["messages"]]
        if not page["has_more"]:
            return history
        path = f"/api/rooms/{room}/messages?limit=200&before={page['messages'][0]['id']}"


async def download_backup(client: Client, out: Path) -> str:
    """GET /api/admin/backup into `out`, chunk by chunk; the file name offered."""
    async with client.http.get(client.base_url + "/api/admin/backup") as r:
        assert r.status == 200, await r.text()
        assert r.headers["Content-Type"] == "application/gzip"
        disposition = r.headers["Content-Disposition"]
        with out.open("wb") as f:
            async for chunk in r.content.iter_chunked(1 << 16):
                f.write(chunk)
    return disposition.split('filename="')[1].rstrip('"')


async def upload(client: Client, archive: bytes, *, dry_run: bool) -> tuple[int, Any]:
    form = aiohttp.FormData()
    form.add_field("backup", archive, filename="backup.tar.gz", content_type="application/gzip")
    url = client.base_url + "/api/admin/restore" + ("?dry_run=1" if dry_run else "")
    async with client.http.post(url, data=form) as r:
        return r.status, await r.json()


async def admin_of(srv: Server) -> Client:
    return await Client(srv.url).login("admin", ADMIN_PASSWORD)


def leftovers(data: Path) -> list[str]:
    """Temporary files and folders the restore code makes; none may outlive a request."""
    names = (".restore-", ".upload-", ".backup-")
    return [p.name for p in data.iterdir() if p.name.startswith(names)]


# -- a consistent backup while messages are being sent ----------------------------------------


async def test_a_backup_taken_while_sending_restores_every_acknowledged_message(
    make_server: Callable[..., Server], tmp_path: Path
) -> None:
    source = make_server()
    admin = await admin_of(source)
    people: list[Client] = []
    senders: list[Sender] = []
    tasks: list[asyncio.Task[None]] = []
    archive = tmp_path / "backup.tar.gz"
    try:
        for name in ("writer1", "writer2"):
            await admin.post(
                "/api/admin/users", {"username": name, "password": USER_PASSWORD}, expect=201
            )
            person = await Client(source.url).login(name, USER_PASSWORD)
            people.append(person)
            senders.append(Sender(person, (await new_room(person))["id"]))
        tasks = [asyncio.create_task(s.run()) for s in senders]
        await asyncio.wait_for(asyncio.gather(*(s.reached.wait() for s in senders)), 20)
        before = [list(s.acked) for s in senders]
        name = await download_backup(admin, archive)
        await asyncio.wait_for(asyncio.gather(*(s.keep_going(10) for s in senders)), 20)
        for s in senders:
            s.stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 20)
        assert leftovers(source.data) == []
    finally:
        for s in senders:
            s.stop.set()  # a cancel can be lost in 3.11's wait_for; stop asks nicely too
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for client in (admin, *people):
            await client.close()
    assert name.startswith("pychat-backup-") and name.endswith("Z.tar.gz")

    with tarfile.open(archive) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert set(members) == {"manifest.json", "pychat.db"}  # development mode: no tls/
        assert all(m.isreg() and m.uid == 0 for m in members.values())
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        db_bytes = tar.extractfile("pychat.db").read()  # type: ignore[union-attr]
    assert manifest["app"] == "pychat" and manifest["format"] == 1
    assert manifest["schema_version"] >= 2 and manifest["counts"]["users"] == 3
    assert manifest["files"]["pychat.db"]["sha256"] == hashlib.sha256(db_bytes).hexdigest()

    async def check(srv: Server) -> None:
        """Every message acknowledged before the backup is there; and what is there is a
        prefix of each sender's acknowledged messages (one consistent moment)."""
        for person, s, acked_before in zip(people, senders, before, strict=True):
            client = await Client(srv.url).login(person.user["username"], USER_PASSWORD)
            try:
                history = await room_history(client, s.room)
            finally:
                await client.close()
            assert history[: len(acked_before)] == acked_before
            assert history == s.acked[: len(history)]
        assert len(history) < len(s.acked)  # the ten after the backup are not in it

    # 1. Through the admin page: dry run, stage, restart.
    target = make_server()
    target_admin = await admin_of(target)
    try:
        status, report = await upload(target_admin, archive.read_bytes(), dry_run=True)
        assert status == 200, report
        assert report["backup"]["counts"] == manifest["counts"]
        assert report["backup"]["org_name"] == "Acme" and report["staged"] is False
        assert report["current"]["counts"]["users"] == 1
        assert not (target.data / "restore-pending").exists()
        status, report = await upload(target_admin, archive.read_bytes(), dry_run=False)
        assert status == 202 and report["staged"] and report["restart_required"]
        pending = (await target_admin.get("/api/admin/backup/status"))["restore_pending"]
        assert pending["created_at"] == manifest["created_at"]
        assert leftovers(target.data) == []
    finally:
        await target_admin.close()
    target.stop()
    target.start()  # applies the staged backup before the database opens
    await check(target)
    assert not (target.data / "restore-pending").exists()
    assert list((target.data / "restore-previous").iterdir())  # what it replaced is kept

    # 2. `pychat restore` on a stopped server's data folder.
    offline = tmp_path / "offline"
    said = await asyncio.to_thread(restore_offline, offline, archive)
    assert said.startswith("Restored") and "3 users" in said
    restored = Server(offline, env=TEST_ENV).start()
    try:
        await check(restored)
    finally:
        restored.stop()


async def test_a_staged_restore_can_be_cancelled_and_a_running_server_is_never_swapped(
    make_server: Callable[..., Server], tmp_path: Path
) -> None:
    srv = make_server()
    admin = await admin_of(srv)
    archive = tmp_path / "b.tar.gz"
    try:
        await download_backup(admin, archive)
        # With the server running, `pychat restore` only stages.
        said = await asyncio.to_thread(restore_offline, srv.data, archive)
        assert "when it restarts" in said
        assert (await admin.get("/api/admin/backup/status"))["restore_pending"] is not None
        assert (await admin.call("DELETE", "/api/admin/restore"))[0] == 204
        assert (await admin.get("/api/admin/backup/status"))["restore_pending"] is None
        assert (await admin.call("DELETE", "/api/admin/restore"))[0] == 404
        said = await asyncio.to_thread(restore_offline, srv.data, archive, dry_run=True)
        assert said.startswith("OK")
        assert not (srv.data / "restore-pending").exists()
    finally:
        await admin.close()


# -- refusing bad archives ----------------------------------------------------------------------


def tar_gz(*members: tuple[tarfile.TarInfo, bytes | None]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def regular(name: str, data: bytes = b"x") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def link(name: str, target: str, kind: bytes) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info, None


def special(name: str, kind: bytes) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    return info, None


MALICIOUS = {
    "parent path": (tar_gz(regular("manifest.json"), regular("../evil")), "unsafe path"),
    "nested parent": (tar_gz(regular("tls/../../evil")), "unsafe path"),
    "absolute path": (tar_gz(regular("/tmp/evil")), "unsafe path"),
    "symlink": (tar_gz(link("tls/ca.crt", "/etc/passwd", tarfile.SYMTYPE)), "link"),
    "hard link": (tar_gz(link("pychat.db", "/etc/shadow", tarfile.LNKTYPE)), "link"),
    "device": (tar_gz(special("pychat.db", tarfile.CHRTYPE)), "special file"),
    "fifo": (tar_gz(special("tls/ca.key", tarfile.FIFOTYPE)), "special file"),
    "unexpected": (tar_gz(regular("run.sh", b"#!/bin/sh")), "unexpected file"),
    "twice": (tar_gz(regular("manifest.json"), regular("manifest.json")), "twice"),
    "dot": (tar_gz(regular("./pychat.db")), "unsafe path"),
    "not gzip": (b"this is not a backup at all", "not a Pychat backup"),
    "truncated": (tar_gz(regular("pychat.db", os.urandom(50000)))[:3000], "damaged"),
    "empty tar": (tar_gz(), "no manifest.json"),
}


@pytest.fixture(scope="module")
def real_archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[bytes]:
    """A genuine backup of a fresh server, to tamper with."""
    data = tmp_path_factory.mktemp("source")
    from tests.server import init_data

    init_data(data)
    srv = Server(data, env=TEST_ENV).start()
    out = data.parent / "real.tar.gz"

    async def take() -> None:
        admin = await admin_of(srv)
        try:
            await download_backup(admin, out)
        finally:
            await admin.close()

    try:
        asyncio.run(take())
    finally:
        srv.stop()
    yield out.read_bytes()


def tampered(archive: bytes, change: Callable[[dict[str, Any], Path], None], tmp: Path) -> bytes:
    """The archive with its database changed by `change(manifest, db_path)`; the manifest's
    checksums are recomputed, so only the deeper checks can tell."""
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        db = tmp / f"{uuid.uuid4().hex}.db"
        db.write_bytes(tar.extractfile("pychat.db").read())  # type: ignore[union-attr]
    change(manifest, db)
    data = db.read_bytes()
    manifest["files"]["pychat.db"] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    text = json.dumps(manifest).encode()
    return tar_gz(regular("manifest.json", text), regular("pychat.db", data))


def sql(statement: str) -> Callable[[dict[str, Any], Path], None]:
    def change(manifest: dict[str, Any], db: Path) -> None:
        conn = sqlite3.connect(db)
        conn.executescript(statement)
        conn.close()

    return change


async def test_malicious_and_damaged_archives_are_refused_by_the_dry_run(
    server: Server, admin: Client, real_archive: bytes, tmp_path: Path
) -> None:
    def newer(manifest: dict[str, Any], db: Path) -> None:
        sql("PRAGMA user_version = 999")(manifest, db)
        manifest["schema_version"] = 999

    deep = {
        "newer schema": (tampered(real_archive, newer, tmp_path), "newer Pychat"),
        "counts differ": (
            tampered(real_archive, lambda m, db: m["counts"].update(users=7), tmp_path),
            "manifest counts",
        ),
        "foreign schema": (
            tampered(real_archive, sql("CREATE TABLE evil(x); "), tmp_path),
            "not a Pychat database",
        ),
        "trigger added": (
            tampered(
                real_archive,
                sql("CREATE TRIGGER t AFTER INSERT ON users BEGIN DELETE FROM users; END;"),
                tmp_path,
            ),
            "not a Pychat database",
        ),
        "never set up": (
            tampered(real_archive, sql("DELETE FROM settings WHERE key = 'setup_done';"), tmp_path),
            "never set up",
        ),
    }
    # Checksums that do not match: one byte of the database changed after the manifest.
    with tarfile.open(fileobj=io.BytesIO(real_archive)) as tar:
        manifest_bytes = tar.extractfile("manifest.json").read()  # type: ignore[union-attr]
        db = bytearray(tar.extractfile("pychat.db").read())  # type: ignore[union-attr]
    db[-1] ^= 0xFF
    deep["checksum"] = (
        tar_gz(regular("manifest.json", manifest_bytes), regular("pychat.db", bytes(db))),
        "checksum",
    )
    before = sorted(p.name for p in server.data.parent.iterdir())
    for case, (archive, words) in {**MALICIOUS, **deep}.items():
        status, body = await upload(admin, archive, dry_run=True)
        assert status == 400, (case, body)
        assert body["error"]["code"] == "bad_request", (case, body)
        assert words in body["error"]["message"], (case, body)
        assert body["error"]["message"].startswith("This backup cannot be restored")
        # Refused without dry_run too, and nothing staged.
        status, body = await upload(admin, archive, dry_run=False)
        assert status == 400, (case, body)
        assert not (server.data / "restore-pending").exists(), case
        assert leftovers(server.data) == [], case
    # Nothing was written next to the data folder (where `../evil` would have gone).
    assert sorted(p.name for p in server.data.parent.iterdir()) == before
    assert not Path("/tmp/evil").exists()
    # The genuine archive passes.
    status, body = await upload(admin, real_archive, dry_run=True)
    assert status == 200, body


async def test_restore_upload_needs_the_backup_field(admin: Client) -> None:
    form = aiohttp.FormData()
    form.add_field("other", b"x", filename="x")
    async with admin.http.post(admin.base_url + "/api/admin/restore?dry_run=1", data=form) as r:
        assert r.status == 400
    async with admin.http.post(
        admin.base_url + "/api/admin/restore?dry_run=maybe", data=aiohttp.FormData({"a": "b"})
    ) as r:
        assert r.status == 400
    # JSON is not an upload.
    status, _ = await admin.call("POST", "/api/admin/restore?dry_run=1", {})
    assert status == 400


# -- USB drive ----------------------------------------------------------------------------------


@pytest.fixture
def usb_drive() -> Iterator[Path]:
    """A `pychat-backups` folder on another filesystem than the data (tmpfs /dev/shm)."""
    if not SHM.is_dir() or SHM.stat().st_dev == Path(__file__).stat().st_dev:
        pytest.skip("needs /dev/shm on a filesystem of its own")
    root = SHM / f"pychat-test-{uuid.uuid4().hex[:8]}"
    folder = root / "usbstick" / "pychat-backups"
    folder.mkdir(parents=True)
    try:
        yield folder
    finally:
        import shutil

        shutil.rmtree(root, ignore_errors=True)


async def test_backups_to_a_usb_drive_keep_the_newest_seven(
    make_server: Callable[..., Server], usb_drive: Path
) -> None:
    pattern = f"{usb_drive.parent.parent}/*/pychat-backups"
    srv = make_server({"PYCHAT_BACKUP_USB_DIR": pattern})
    admin = await admin_of(srv)
    try:
        old = [usb_drive / f"pychat-backup-2020010{i}-000000Z.tar.gz" for i in range(1, 9)]
        for path in old:
            path.write_bytes(b"old")
        status = await admin.get("/api/admin/backup/status")
        assert status["usb"]["configured"] and status["usb"]["folder"] == str(usb_drive)
        assert status["usb"]["keep"] == 7 and len(status["usb"]["backups"]) == 8
        status = await admin.post("/api/admin/backup/usb")
        assert status["last_error"] is None and status["last_success_at"]
        names = [b["name"] for b in status["backups"]]
        assert len(names) == 7 and names[0] == Path(status["last_file"]).name
        assert names[1:] == [p.name for p in reversed(old)][:6]
        with tarfile.open(status["last_file"]) as tar:
            assert {"manifest.json", "pychat.db"} <= set(tar.getnames())
        assert not [p for p in usb_drive.iterdir() if p.name.endswith(".partial")]
    finally:
        await admin.close()


async def test_a_backup_folder_on_the_data_disk_is_not_a_usb_drive(
    make_server: Callable[..., Server], tmp_path: Path
) -> None:
    folder = tmp_path / "media" / "stick" / "pychat-backups"
    folder.mkdir(parents=True)
    srv = make_server({"PYCHAT_BACKUP_USB_DIR": f"{tmp_path}/media/*/pychat-backups"})
    admin = await admin_of(srv)
    try:
        usb = (await admin.get("/api/admin/backup/status"))["usb"]
        assert usb["folder"] is None and "same disk" in usb["unusable"][0]
        status, body = await admin.call("POST", "/api/admin/backup/usb")
        assert status == 409 and "No USB drive" in body["error"]["message"]
        assert list(folder.iterdir()) == []
    finally:
        await admin.close()


# -- `pychat restore` -------------------------------------------------------------------------


def pychat_restore(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "appliance", "restore", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **TEST_ENV},
        check=False,
    )


async def test_the_restore_command_checks_then_restores_or_refuses(
    real_archive: bytes, tmp_path: Path
) -> None:
    archive = tmp_path / "b.tar.gz"
    archive.write_bytes(real_archive)
    data = tmp_path / "fresh"
    where = ("--data", str(data))
    checked = await asyncio.to_thread(pychat_restore, *where, str(archive), "--dry-run")
    assert checked.returncode == 0 and checked.stdout.startswith("OK: backup of Acme"), checked
    assert not (data / "pychat.db").exists()
    done = await asyncio.to_thread(pychat_restore, "--data", str(data), str(archive))
    assert done.returncode == 0 and done.stdout.startswith("Restored"), done
    assert done.stderr == ""
    assert (data / "pychat.db").is_file() and not (data / "restore-pending").exists()
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(MALICIOUS["parent path"][0])
    refused = await asyncio.to_thread(pychat_restore, "--data", str(data), str(bad))
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "pychat: This backup cannot be restored: it holds an unsafe path" in refused.stderr
