"""Scheduled backups to a USB drive: daily, while a drive with a `pychat-backups` folder is
mounted, keeping the newest seven.

The drive is found by `backup.usb_dir`: one or more glob patterns separated by `:`, each
matching a backup folder (default `/media/*/pychat-backups:/media/*/*/pychat-backups:
/mnt/*/pychat-backups`). The first match that is a writable folder on another filesystem
than the data folder wins: a folder left on the SD card by an unmounted drive never
receives backups. Nobody has to configure anything: make a `pychat-backups` folder on the
drive and plug it in. Each hour the task looks for the drive; when the newest backup
there is older than a day, it writes one (`backup.make_archive`, under a temporary name,
renamed when complete) and removes the oldest beyond seven.
"""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import glob
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from ..errors import AppError, Conflict
from .archive import make_archive

log = logging.getLogger(__name__)

DEFAULT_PATTERN = "/media/*/pychat-backups:/media/*/*/pychat-backups:/mnt/*/pychat-backups"
KEEP = 7
EVERY_S = 86400.0
CHECK_EVERY_S = 3600.0
FIRST_CHECK_S = 60.0
ARCHIVE = re.compile(r"pychat-backup-\d{8}-\d{6}Z\.tar\.gz")


@dataclass(frozen=True)
class Drive:
    folder: Path | None  # where backups go; None when no drive is usable
    unusable: tuple[str, ...] = ()  # folders found but refused, with the reason


def find_drive(pattern: str, data_dir: Path, *, other_device: bool = True) -> Drive:
    """The first usable backup folder matching `pattern` (blocking: stats the folders)."""
    refused: list[str] = []
    data_device = data_dir.stat().st_dev
    for one in filter(None, (p.strip() for p in pattern.split(":"))):
        for match in sorted(glob.glob(one)):
            folder = Path(match)
            if not folder.is_dir():
                continue
            if other_device and folder.stat().st_dev == data_device:
                refused.append(f"{folder}: on the same disk as the data (no drive mounted?)")
            elif not os.access(folder, os.W_OK | os.X_OK):
                refused.append(f"{folder}: not writable by the server")
            else:
                return Drive(folder, tuple(refused))
    return Drive(None, tuple(refused))


def made_at(path: Path) -> float:
    """When a backup was made, from its name (a drive's file times may be coarse or off)."""
    stamp = path.name.removeprefix("pychat-backup-").removesuffix("Z.tar.gz")
    return float(calendar.timegm(time.strptime(stamp, "%Y%m%d-%H%M%S")))


def backups_in(folder: Path) -> list[Path]:
    """The backups in a folder, newest first (names sort by time)."""
    return sorted((p for p in folder.iterdir() if ARCHIVE.fullmatch(p.name)), reverse=True)


def prune(folder: Path, keep: int) -> list[Path]:
    removed = []
    for old in backups_in(folder)[keep:]:
        with contextlib.suppress(OSError):
            old.unlink()
            removed.append(old)
    for partial in folder.glob(".pychat-backup-*.partial"):
        with contextlib.suppress(OSError):
            partial.unlink()
    return removed


class UsbBackups:
    """The daily backup task and what the admin page shows of it."""

    def __init__(
        self,
        data_dir: Path,
        db_path: Path,
        pattern: str = DEFAULT_PATTERN,
        *,
        keep: int = KEEP,
        every_s: float = EVERY_S,
        check_every_s: float = CHECK_EVERY_S,
        first_check_s: float = FIRST_CHECK_S,
        other_device: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.data_dir = data_dir
        self.db_path = db_path
        self.pattern = pattern
        self.keep = keep
        self.every_s = every_s
        self.check_every_s = check_every_s
        self.first_check_s = first_check_s
        self.other_device = other_device
        self.clock = clock
        self.last_attempt_at: int | None = None
        self.last_success_at: int | None = None
        self.last_file: str | None = None
        self.last_error: str | None = None
        self.next_check_at: int | None = None
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()

    @property
    def configured(self) -> bool:
        return bool(self.pattern.strip())

    def _due(self, folder: Path) -> bool:
        newest = backups_in(folder)[:1]
        if not newest:
            return True
        age = self.clock() - made_at(newest[0])
        # A backup "from the future" means the clock was wrong then, or is now: back up.
        return age >= self.every_s - 600 or age < -self.every_s

    async def run_once(self, *, force: bool = False) -> Path | None:
        """Back up to the drive now (`force`) or when due; the file written, or None."""
        if not self.configured:
            raise Conflict("Scheduled backups are off (backup.usb_dir is empty).")
        async with self._lock:
            drive = await asyncio.to_thread(
                find_drive, self.pattern, self.data_dir, other_device=self.other_device
            )
            if drive.folder is None:
                if force:
                    raise Conflict("No USB drive with a pychat-backups folder is mounted.")
                return None
            folder = drive.folder
            if not force and not await asyncio.to_thread(self._due, folder):
                return None
            self.last_attempt_at = int(self.clock() * 1000)
            try:
                written = await asyncio.to_thread(self._write, folder)
            except Exception as e:
                self.last_error = _describe(e)
                log.exception("scheduled backup to %s failed", folder)
                raise
            self.last_success_at = int(self.clock() * 1000)
            self.last_file = str(written)
            self.last_error = None
            log.info("backup written to %s", written)
            return written

    def _write(self, folder: Path) -> Path:
        written = make_archive(self.data_dir, self.db_path, folder, now_s=self.clock())
        prune(folder, self.keep)
        return written

    def wake(self) -> None:
        self._wake.set()

    async def status(self) -> dict[str, Any]:
        drive = Drive(None)
        files: list[dict[str, Any]] = []
        if self.configured:
            drive = await asyncio.to_thread(
                find_drive, self.pattern, self.data_dir, other_device=self.other_device
            )
            if drive.folder is not None:
                files = await asyncio.to_thread(_describe_files, drive.folder)
        return {
            "configured": self.configured,
            "pattern": self.pattern,
            "folder": str(drive.folder) if drive.folder else None,
            "unusable": list(drive.unusable),
            "keep": self.keep,
            "last_attempt_at": self.last_attempt_at,
            "last_success_at": self.last_success_at,
            "last_file": self.last_file,
            "last_error": self.last_error,
            "next_check_at": self.next_check_at,
            "backups": files,
        }

    async def _loop(self) -> None:
        delay = self.first_check_s
        while True:
            self.next_check_at = int((self.clock() + delay) * 1000)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
            self._wake.clear()
            delay = self.check_every_s
            try:
                await self.run_once()
            except Exception:  # logged by run_once; try again at the next check
                log.debug("scheduled backup failed", exc_info=True)

    def ctx(self) -> Callable[[web.Application], AsyncIterator[None]]:
        """A cleanup_ctx running the daily check (after the database's: it reads it)."""

        async def ctx(app: web.Application) -> AsyncIterator[None]:
            task = None
            if self.configured:
                task = asyncio.create_task(self._loop(), name="usb-backups")
            try:
                yield
            finally:
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task

        return ctx


def _describe(error: Exception) -> str:
    if isinstance(error, AppError):
        return error.message
    if isinstance(error, OSError):
        return f"{error.strerror or 'I/O error'} ({error.filename or 'the drive'})"
    return "an unexpected error (see the log)"


def _describe_files(folder: Path) -> list[dict[str, Any]]:
    found = []
    for path in backups_in(folder):
        with contextlib.suppress(OSError):
            info = path.stat()
            found.append(
                {"name": path.name, "size": info.st_size, "modified_at": int(info.st_mtime * 1000)}
            )
    return found
