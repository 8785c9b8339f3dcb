"""The admin area's backup actions: download a backup, check and stage a restore, USB drive
backups. The archive itself is `backup/archive.py`; restoring is `backup/restore.py`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from ..backup import archive, restore
from ..backup.usb import UsbBackups
from ..db_health import found_damage
from ..errors import AppError, Conflict, TooLarge
from ..storage import stats
from .admin import Admin
from .admin_device import Device

if TYPE_CHECKING:
    from ..state.services import Services

log = logging.getLogger(__name__)
_UPLOAD_PREFIX = ".upload-"
ON_POSTGRESQL = (
    "This server keeps its data in PostgreSQL: back it up with pg_dump, then copy the shared"
    " data folder (docs/scaling.md, Backups). The backups here are the appliance's, of SQLite."
)


def require_sqlite(svc: Services) -> None:
    """Backups, restores and USB drives copy SQLite's file: on PostgreSQL there is none to
    copy (a stale one, from before a migration, may lie in the data folder), so they are
    refused, saying what to use instead."""
    if svc.db.dialect != "sqlite":
        raise Conflict(ON_POSTGRESQL)


@contextlib.asynccontextmanager
async def backup_archive(
    svc: Services, admin: Admin
) -> AsyncIterator[tuple[str, AsyncIterator[bytes]]]:
    """A consistent backup made now: its file name and its chunks, to stream while the
    server keeps serving. The snapshot is taken before the first byte (so a failure is an
    ordinary error reply), and removed when the context ends."""
    require_sqlite(svc)
    settings = svc.settings
    try:
        snapshot = await asyncio.to_thread(
            archive.take_snapshot, settings.data_dir, settings.db_path, now_s=svc.clock()
        )
    except archive.DatabaseDamaged as e:
        _note_damage(svc, e)
        raise
    log.info("admin %d is downloading a backup", admin.user_id)
    try:
        name = archive.archive_name(snapshot.manifest["created_at"] / 1000)
        chunks = archive.stream_archive(snapshot)
        async with contextlib.aclosing(chunks):
            yield name, chunks
    finally:
        await asyncio.to_thread(snapshot.remove)


def _note_damage(svc: Services, error: archive.DatabaseDamaged) -> None:
    """Damage a backup found, between integrity checks: the storage page says so from now."""
    svc.db.integrity = found_damage(error.problem, svc.now_ms())
    log.error("a backup found the database damaged (%s)", error.problem)


def _open_upload(data_dir: Path) -> tuple[Path, BinaryIO]:
    fd, name = tempfile.mkstemp(prefix=_UPLOAD_PREFIX, suffix=".tar.gz", dir=data_dir)
    return Path(name), os.fdopen(fd, "wb")


@contextlib.asynccontextmanager
async def uploaded_backup(
    svc: Services, admin: Admin, chunks: AsyncIterator[bytes], declared: int | None
) -> AsyncIterator[Path]:
    """An uploaded archive streamed to a file in the data folder (never whole in memory),
    up to what the free space allows; the file is removed when the context ends."""
    data_dir = svc.settings.data_dir
    limit = await asyncio.to_thread(restore.upload_limit, data_dir)
    too_large = TooLarge(f"The backup is larger than the device can take ({limit} bytes).")
    if declared is not None and declared > limit:
        raise too_large
    path, f = await asyncio.to_thread(_open_upload, data_dir)
    try:
        received = 0
        try:
            async for chunk in chunks:
                received += len(chunk)
                if received > limit:
                    raise too_large
                await asyncio.to_thread(f.write, chunk)
        finally:
            await asyncio.to_thread(f.close)
        if received == 0:
            raise AppError("The upload was empty: choose a backup file.")
        yield path
    finally:
        await asyncio.to_thread(path.unlink, True)


async def check_restore(
    svc: Services, admin: Admin, device: Device, archive: Path, *, dry_run: bool
) -> dict[str, Any]:
    """Check the archive and report what it would restore; unless `dry_run`, stage it for
    the next start (the admin page says that a restart applies it)."""
    report = await asyncio.to_thread(restore.stage, svc.settings.data_dir, archive, dry_run=dry_run)
    current_ca = device.tls.ca_fingerprint or None
    report["current"] = {
        "schema_version": await stats.schema_version(svc.db),
        "counts": await stats.counts(svc.db),
        "ca_fingerprint": current_ca,
    }
    if report["ca_fingerprint"] and current_ca and report["ca_fingerprint"] != current_ca:
        report["warnings"].append(
            "The backup has another CA than this device: after the restore, office devices"
            " must trust the backup's CA (its fingerprint is shown above)."
        )
    report["staged"] = not dry_run
    report["restart_required"] = not dry_run
    return report


async def cancel_restore(svc: Services, admin: Admin) -> bool:
    cancelled = await asyncio.to_thread(restore.cancel_pending, svc.settings.data_dir)
    if cancelled:
        log.info("admin %d cancelled the staged restore", admin.user_id)
    return cancelled


async def backup_status(svc: Services, admin: Admin, usb: UsbBackups | None) -> dict[str, Any]:
    """`engine`: where the data is; on `postgresql` the page says how to back it up instead
    (`on_postgresql`) and offers none of its own."""
    if svc.db.dialect != "sqlite":
        return {
            "engine": svc.db.dialect,
            "on_postgresql": ON_POSTGRESQL,
            "usb": {"configured": False},
            "restore_pending": None,
        }
    usb_status = await usb.status() if usb is not None else {"configured": False}
    pending = await asyncio.to_thread(restore.pending_restore, svc.settings.data_dir)
    return {"engine": "sqlite", "usb": usb_status, "restore_pending": pending}


async def usb_backup_now(svc: Services, admin: Admin, usb: UsbBackups | None) -> dict[str, Any]:
    require_sqlite(svc)
    if usb is None:
        raise Conflict("Scheduled backups are not available on this server.")
    try:
        await usb.run_once(force=True)
    except archive.DatabaseDamaged as e:
        _note_damage(svc, e)
        raise
    except OSError:
        raise Conflict(f"The backup to the drive failed: {usb.last_error}.") from None
    return await usb.status()
