"""Backup archives, applying a staged restore (and finishing one cut short), scheduled USB
backups and the log ring, on real files in a temporary folder."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import sqlite3
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from appliance.backup import restore
from appliance.backup.archive import ArchiveStream, Member, make_archive
from appliance.backup.usb import UsbBackups, find_drive
from appliance.chat import setup
from appliance.config import load_settings
from appliance.db import SqliteDatabase
from appliance.hub import Hub
from appliance.logbuffer import LogBuffer
from appliance.state.services import Services
from tests.waiting import wait_until


async def _init(data: Path, org: str) -> None:
    settings = load_settings(data, environ={"PYCHAT_AUTH_SCRYPT_N": "1024"})
    db = SqliteDatabase(settings.db_path)
    await db.open()
    try:
        await setup.initialize(Services(settings=settings, db=db, hub=Hub()), org, "admin", "a" * 8)
    finally:
        await db.close()


def _org(db_path: Path) -> str:
    conn = sqlite3.connect(db_path)
    try:
        return str(conn.execute("SELECT value FROM settings WHERE key='org_name'").fetchone()[0])
    finally:
        conn.close()


@pytest.fixture
async def two_devices(tmp_path: Path) -> AsyncIterator[tuple[Path, Path]]:
    """A data folder ("Old", no certificates) and another ("New") to restore into."""
    old, new = tmp_path / "old", tmp_path / "new"
    await _init(old, "Old")
    await _init(new, "New")
    (new / "tls").mkdir()
    (new / "tls" / "ca.crt").write_text("new")
    yield old, new


def test_an_archive_streams_in_chunks_that_tar_reads(tmp_path: Path) -> None:
    big = tmp_path / "big"
    big_size = 3_000_001
    big.write_bytes(os.urandom(big_size))
    members = [Member("manifest.json", data=b"{}", size=2), Member("pychat.db", big, size=big_size)]
    stream = ArchiveStream(members, chunk=65536)
    chunks = []
    while chunk := stream.read():
        chunks.append(chunk)
    assert len(chunks) > 10  # produced as it went, not at the end
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks)), mode="r:gz") as tar:
        assert tar.getnames() == ["manifest.json", "pychat.db"]
        assert tar.extractfile("pychat.db").read() == big.read_bytes()  # type: ignore[union-attr]
        assert tar.getmember("pychat.db").mode == 0o600


async def test_a_staged_restore_is_applied_and_the_old_data_kept(
    two_devices: tuple[Path, Path], tmp_path: Path
) -> None:
    old, new = two_devices
    archive = await asyncio.to_thread(make_archive, old, old / "pychat.db", tmp_path)
    (new / "claim-code.txt").write_text("ABCD1234")
    report = await asyncio.to_thread(restore.stage, new, archive, dry_run=False)
    assert report["backup"]["org_name"] == "Old" and report["includes"]["tls"] is False
    assert (new / "restore-pending" / "READY").is_file()
    assert _org(new / "pychat.db") == "New"  # nothing replaced before the start

    said = await asyncio.to_thread(restore.apply_pending, new)
    assert said is not None and "restored" in said
    assert _org(new / "pychat.db") == "Old"
    assert not (new / "pychat.db-wal").exists() and not (new / "restore-pending").exists()
    assert not (new / "claim-code.txt").exists()
    (previous,) = (new / "restore-previous").iterdir()
    assert _org(previous / "pychat.db") == "New"
    assert (new / "tls" / "ca.crt").read_text() == "new"  # the backup had no certificates
    assert await asyncio.to_thread(restore.apply_pending, new) is None


async def test_a_restore_cut_short_is_finished_on_the_next_start(
    two_devices: tuple[Path, Path], tmp_path: Path
) -> None:
    old, new = two_devices
    archive = tmp_path / "b.tar.gz"
    await asyncio.to_thread(make_archive, old, old / "pychat.db", archive)
    await asyncio.to_thread(restore.stage, new, archive, dry_run=False)
    # The power went out after the journal and the first move (the old database aside).
    pending = new / "restore-pending"
    (pending / "APPLYING").write_text("20260101-000000Z")
    aside = new / "restore-previous" / "20260101-000000Z"
    aside.mkdir(parents=True)
    os.replace(new / "pychat.db", aside / "pychat.db")
    await asyncio.to_thread(restore.apply_pending, new)
    assert _org(new / "pychat.db") == "Old" and _org(aside / "pychat.db") == "New"
    assert not pending.exists()


async def test_an_unfinished_upload_is_dropped_and_a_running_server_is_left_alone(
    two_devices: tuple[Path, Path], tmp_path: Path
) -> None:
    old, new = two_devices
    (new / "restore-pending").mkdir()
    (new / "restore-pending" / "pychat.db").write_bytes(b"half")
    assert await asyncio.to_thread(restore.apply_pending, new) is None
    assert not (new / "restore-pending").exists()

    archive = tmp_path / "b.tar.gz"
    await asyncio.to_thread(make_archive, old, old / "pychat.db", archive)
    await asyncio.to_thread(restore.stage, new, archive, dry_run=False)
    db = SqliteDatabase(new / "pychat.db")
    await db.open()  # a server has it open
    try:
        assert await asyncio.to_thread(restore.database_in_use, new / "pychat.db")
        said = await asyncio.to_thread(restore.apply_pending, new)
        assert said is not None and "in use" in said
        assert (new / "restore-pending" / "READY").exists()
    finally:
        await db.close()
    assert not await asyncio.to_thread(restore.database_in_use, new / "pychat.db")
    await asyncio.to_thread(restore.apply_pending, new)
    assert _org(new / "pychat.db") == "Old"


async def test_the_daily_task_writes_to_the_drive_and_keeps_seven(
    two_devices: tuple[Path, Path], tmp_path: Path
) -> None:
    old, _ = two_devices
    drive = tmp_path / "media" / "stick" / "pychat-backups"
    drive.mkdir(parents=True)
    pattern = f"{tmp_path}/nowhere/*:{tmp_path}/media/*/pychat-backups"
    assert find_drive(pattern, old).folder is None  # same disk: refused by default
    assert find_drive(pattern, old, other_device=False).folder == drive
    clock = [1_800_000_000.0]
    usb = UsbBackups(
        old,
        old / "pychat.db",
        pattern,
        check_every_s=0.01,
        first_check_s=0,
        other_device=False,
        clock=lambda: clock[0],
    )
    ctx = usb.ctx()(None)  # type: ignore[arg-type]
    await ctx.__anext__()
    try:
        for day in range(9):
            await wait_until(
                lambda: usb.last_success_at == int(clock[0] * 1000),
                what=f"the backup of day {day} is taken",
                interval=0.01,
            )
            # Not again the same day, even with many checks.
            await asyncio.sleep(0.05)
            assert len(list(drive.iterdir())) == min(day + 1, 7)
            clock[0] += 86400
    finally:
        with pytest.raises(StopAsyncIteration):
            await ctx.__anext__()
    names = sorted(p.name for p in drive.iterdir())
    assert len(names) == 7 and names[0] == "pychat-backup-20270117-080000Z.tar.gz"
    status = await usb.status()
    assert status["folder"] == str(drive) and len(status["backups"]) == 7


def test_the_log_ring_keeps_the_newest_lines_with_tracebacks() -> None:
    ring = LogBuffer(capacity=3)
    logger = logging.getLogger("test.ring")
    logger.addHandler(ring)
    logger.setLevel(logging.INFO)
    try:
        for n in range(5):
            logger.info("line %d", n)
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("it failed")
        logger.debug("not kept")
    finally:
        logger.removeHandler(ring)
    lines = ring.recent(10)
    assert [line.message.splitlines()[0] for line in lines] == ["line 3", "line 4", "it failed"]
    assert "ValueError: boom" in lines[-1].message and lines[-1].level == "ERROR"
    (newest,) = ring.recent(1)
    assert newest.message.startswith("it failed")
