"""Restoring a backup archive (`appliance.backup.archive`): check it, stage it, apply it at start.

A running server never swaps its database underneath itself. Restoring is three steps:

1. **check** (`stage(..., dry_run=True)`, the admin page's dry run): the archive is
   unpacked into a fresh folder under the data folder and checked (`restore_check`); the
   report says what would be restored.
2. **stage** (`stage(..., dry_run=False)`): the checked folder becomes
   `<data>/restore-pending/`, and a `READY` file is written last. A folder without it is
   an interrupted upload and is removed.
3. **apply** (`apply_pending`, when the server starts, before the database opens; or
   `pychat restore` with the server stopped): the current database (with its `-wal` and
   `-shm`), `tls/` and `files/` move to `<data>/restore-previous/<time>/`, the staged ones move in.
   Every step is a rename inside the data folder, journalled by an `APPLYING` file, so a
   power cut part-way through is finished on the next start. Only the newest
   `restore-previous/` folder is kept.

Everything here blocks: call it in a thread from a running loop.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from ..errors import BadRequest, Conflict
from ..privileged.claim_format import FILE_NAME as CLAIM_CODE
from ..system import durable
from .archive import DATABASE, FOLDERS, MANIFEST, SPARE_BYTES, UPLOADS
from .restore_check import RestoreRefused, check_archive, newest_schema

__all__ = ["RestoreRefused", "apply_pending", "cancel_pending", "restore_offline", "stage"]

log = logging.getLogger(__name__)

PENDING = "restore-pending"
PREVIOUS = "restore-previous"
READY = "READY"
APPLYING = "APPLYING"
MAX_ARCHIVE_BYTES = 32 << 30  # the largest archive accepted (before the free-space check)
_STAGING_PREFIX = ".restore-"


# -- check and stage ------------------------------------------------------------------------


def upload_limit(data_dir: Path) -> int:
    """The most bytes an uploaded archive may have: free space permitting."""
    free = shutil.disk_usage(data_dir).free - SPARE_BYTES
    return max(0, min(MAX_ARCHIVE_BYTES, free))


def stage(data_dir: Path, archive: Path, *, dry_run: bool) -> dict[str, Any]:
    """Check `archive`; unless `dry_run`, stage it to be applied on the next start."""
    staging = Path(tempfile.mkdtemp(prefix=_STAGING_PREFIX, dir=data_dir))
    staged = False
    try:
        # Unpacked, the backup must still leave room to apply it.
        limit = max(0, shutil.disk_usage(data_dir).free - SPARE_BYTES)
        report = check_archive(archive, staging, max_bytes=limit)
        if dry_run:
            return report
        # A backup replaces the uploaded files too, even with none: the restored database
        # names only its own.
        (staging / UPLOADS).mkdir(mode=0o700, exist_ok=True)
        durable.sync_tree(staging)  # every staged byte on disk before READY says so
        pending = data_dir / PENDING
        if pending.exists():
            if (pending / APPLYING).exists():
                raise Conflict("A restore is being applied; wait for the restart to finish.")
            shutil.rmtree(pending)
        try:
            os.rename(staging, pending)
        except OSError:  # another restore was staged at the same moment
            raise Conflict("Another restore is being staged; try again.") from None
        staged = True
        durable.sync_dir(data_dir)  # the folder's new name first, READY last
        durable.write_file(pending / READY, str(int(time.time() * 1000)).encode(), mode=None)
        log.info(
            "a backup of %s was staged for restore: it replaces the data on the next start",
            time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(report["backup"]["created_at"] / 1000)),
        )
        return report
    finally:
        if not staged:
            shutil.rmtree(staging, ignore_errors=True)


def pending_restore(data_dir: Path) -> dict[str, Any] | None:
    """The staged backup's manifest facts, when one waits for the next start."""
    pending = data_dir / PENDING
    if not (pending / READY).is_file():
        return None
    try:
        manifest = json.loads((pending / MANIFEST).read_text(encoding="utf-8"))
        staged_at = int((pending / READY).read_text() or 0)
    except (OSError, ValueError):
        return None
    return {
        "staged_at": staged_at,
        "created_at": manifest.get("created_at"),
        "version": manifest.get("version"),
        "counts": manifest.get("counts"),
    }


def cancel_pending(data_dir: Path) -> bool:
    pending = data_dir / PENDING
    if not pending.exists():
        return False
    if (pending / APPLYING).exists():
        raise Conflict("A restore is being applied; wait for the restart to finish.")
    shutil.rmtree(pending)
    return True


# -- apply ----------------------------------------------------------------------------------


def database_in_use(db_path: Path) -> bool:
    """Whether another process has the database open (a running server holds a lock on it
    for as long as it runs: every WAL-mode connection keeps a shared lock)."""
    if not db_path.exists():
        return False
    conn = sqlite3.connect(db_path, timeout=0, isolation_level=None)
    try:
        conn.execute("PRAGMA locking_mode=EXCLUSIVE")
        conn.execute("BEGIN EXCLUSIVE")
        conn.execute("COMMIT")
        return False
    except sqlite3.OperationalError as e:
        return e.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    except sqlite3.DatabaseError:
        return False  # not a database at all: certainly no server runs on it
    finally:
        conn.close()


def apply_pending(data_dir: Path) -> str | None:
    """Put a staged backup in place; call before the database opens. Returns what it did
    (also logged), None when nothing was staged."""
    pending = data_dir / PENDING
    if not pending.is_dir():
        return None
    if not (pending / READY).is_file():
        shutil.rmtree(pending, ignore_errors=True)
        log.warning("removed an unfinished restore (the upload never completed)")
        return None
    db_path = data_dir / DATABASE
    journal = pending / APPLYING
    if not journal.is_file():
        manifest = json.loads((pending / MANIFEST).read_text(encoding="utf-8"))
        if int(manifest.get("schema_version", 0)) > newest_schema():
            shutil.rmtree(pending)
            message = "the staged backup comes from a newer Pychat; it was not restored"
            log.error("%s", message)
            return message
        if database_in_use(db_path):
            message = "the database is in use by another process; the restore waits"
            log.warning("%s", message)
            return message
        stamp = time.strftime("%Y%m%d-%H%M%SZ", time.gmtime())
        durable.write_file(journal, stamp.encode(), mode=None)
    aside = data_dir / PREVIOUS / journal.read_text().strip()
    aside.mkdir(mode=0o700, parents=True, exist_ok=True)
    if (pending / DATABASE).exists():
        # The old database with its WAL: a WAL never meets a database it does not belong to.
        for name in (f"{DATABASE}-wal", f"{DATABASE}-shm", DATABASE):
            if (data_dir / name).exists() and not (aside / name).exists():
                os.replace(data_dir / name, aside / name)
        os.replace(pending / DATABASE, db_path)
    for folder in (*FOLDERS, UPLOADS):
        if (pending / folder).is_dir():
            current = data_dir / folder
            if current.exists() and not (aside / folder).exists():
                os.replace(current, aside / folder)
            elif current.exists():
                shutil.rmtree(current)
            os.replace(pending / folder, current)
    durable.sync_dir(data_dir)
    with contextlib.suppress(OSError):
        shutil.copyfile(pending / MANIFEST, aside / "restored-manifest.json")
    shutil.rmtree(pending)
    # The restored database is set up, so its claim code goes (the root helper then removes
    # the boot partition's copy, which follows this file). By its name in the format shared
    # with the helper: the setup wizard, which makes the code, sits above backups.
    with contextlib.suppress(OSError):
        (data_dir / CLAIM_CODE).unlink(missing_ok=True)
    if not any(p.name != "restored-manifest.json" for p in aside.iterdir()):
        shutil.rmtree(aside)  # nothing was replaced (a fresh data folder)
        message = "restored a backup into an empty data folder"
    else:
        message = f"restored a backup; the data it replaced is in {aside}"
    for older in sorted((data_dir / PREVIOUS).iterdir())[:-1]:
        shutil.rmtree(older, ignore_errors=True)
    with contextlib.suppress(OSError):
        (data_dir / PREVIOUS).rmdir()  # only when empty
    log.info("%s", message)  # the journal and the admin page's log (the CLI prints its own)
    return message


def restore_offline(data_dir: Path, archive: Path, *, dry_run: bool = False) -> str:
    """`pychat restore`: check and stage `archive`, then apply it unless a server is
    running (then the server applies it when it restarts)."""
    if not archive.is_file():
        raise BadRequest(f"No file at {archive}.")
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    report = stage(data_dir, archive, dry_run=dry_run)
    backup = report["backup"]
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(backup["created_at"] / 1000))
    counts = backup["counts"]
    holds = ", ".join(
        _plural(counts[key], noun)
        for key, noun in (("users", "user"), ("rooms", "room"), ("messages", "message"))
    )
    what = f"backup of {backup['org_name'] or 'Pychat'} from {when}: {holds}"
    if dry_run:
        return f"OK: {what}"
    if database_in_use(data_dir / DATABASE):
        return f"Staged the {what}: the running server applies it when it restarts."
    apply_pending(data_dir)
    return f"Restored the {what}."


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")
