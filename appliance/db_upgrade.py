"""Upgrading a database made by an earlier release: all at once or not at all, with a copy
to go back to.

Every migration this release has and the database has not yet had runs in ONE transaction,
with `user_version` set inside it: a migration that fails rolls back every earlier one of
the same start, so the file stays exactly as the old release left it and the old release
still starts on it. The start is refused (`MigrationFailed`, exit status 3: restarting
cannot help) with a line that says so.

Before it migrates, the start copies the database (`VACUUM INTO`: a consistent, compact
copy) to `<data>/db-before-v<N>.sqlite`, N being the schema version it upgrades to: a
release that came up but misbehaves can be rolled back to it (docs/operations.md,
"Updates"). Only the newest copy is kept, and it is removed at the first start
`UPGRADE_COPY_DAYS` days after it was made: it still holds what was deleted since
(docs/operations.md, "Deleted means deleted"). Without room for it the upgrade goes on
without a copy (the transaction alone keeps the data safe) and says so in the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import sqlite3
import time
from pathlib import Path

import aiosqlite

from .db_health import DataFolderProblem, damage_of
from .system import durable

log = logging.getLogger(__name__)

COPY_PREFIX = "db-before-v"
COPY_SUFFIX = ".sqlite"
UPGRADE_COPY_DAYS = 7
SPARE_BYTES = 64 << 20  # left free after the copy, as backups leave (backup/archive.py)


class MigrationFailed(DataFolderProblem):
    """A migration failed; the database was left as it was."""


def copy_path(db_path: Path, version: int) -> Path:
    return db_path.parent / f"{COPY_PREFIX}{version}{COPY_SUFFIX}"


def upgrade_copies(db_path: Path) -> list[Path]:
    return sorted(db_path.parent.glob(f"{COPY_PREFIX}*{COPY_SUFFIX}"))


def upgrade_script(pending: list[tuple[int, str]]) -> str:
    """One transaction for every pending migration, each followed by its version."""
    parts = ["BEGIN IMMEDIATE;"]
    for version, sql in pending:
        parts += [sql, f"PRAGMA user_version={version};"]
    parts.append("COMMIT;")
    return "\n".join(parts)


async def apply(
    conn: aiosqlite.Connection, db_path: Path | None, current: int, pending: list[tuple[int, str]]
) -> None:
    """Bring the database from `current` through `pending` (sorted), or leave it as it was
    and raise MigrationFailed. `db_path` None: no copy (a database of a test's own)."""
    target = pending[-1][0]
    copy = None
    if db_path is not None and current > 0:
        copy = await _copy_before(conn, db_path, current, target)
    try:
        await conn.executescript(upgrade_script(pending))
    except sqlite3.Error as e:
        with contextlib.suppress(sqlite3.Error):
            await conn.execute("ROLLBACK")
        if copy is not None:
            await _remove(copy)  # nothing changed: nothing to go back to
        if damage_of(e):
            raise  # a damaged file: the caller's diagnosis says what to do
        raise MigrationFailed(
            f"the database {db_path} could not be upgraded from schema version {current}"
            f" to {target} ({type(e).__name__}: {e}); it was left exactly as it was, so the"
            " previous Pychat still starts on it: reinstall that release and report this"
            " (docs/operations.md, Updates)."
        ) from e
    log.info("database upgraded from schema version %d to %d", current, target)


async def _copy_before(
    conn: aiosqlite.Connection, db_path: Path, current: int, target: int
) -> Path | None:
    copy = copy_path(db_path, target)
    size = await _database_bytes(db_path)
    free = (await asyncio.to_thread(shutil.disk_usage, db_path.parent)).free
    if free - size < SPARE_BYTES:
        log.warning(
            "no copy of the database was kept before upgrading it (%d MB free, %d MB needed):"
            " going back to the previous release will need a backup",
            free >> 20,
            (size + SPARE_BYTES) >> 20,
        )
        return None
    for old in await asyncio.to_thread(upgrade_copies, db_path):
        await _remove(old)  # the newest only: an older release is a backup's job
    temp = copy.with_name(copy.name + ".tmp")
    await _remove(temp)
    try:
        await conn.execute("VACUUM INTO ?", (str(temp),))
        # VACUUM INTO does not fsync what it wrote: move() does, before the rename.
        await asyncio.to_thread(durable.move, temp, copy)
    except (OSError, sqlite3.Error) as e:
        await _remove(temp)
        log.warning("no copy of the database was kept before upgrading it: %s", e)
        return None
    log.info(
        "the database at schema version %d is copied to %s before the upgrade to %d",
        current,
        copy,
        target,
    )
    return copy


async def drop_stale_copies(db_path: Path, now_s: float | None = None) -> None:
    """Remove upgrade copies older than UPGRADE_COPY_DAYS (run at a start that did not
    upgrade)."""
    limit = (time.time() if now_s is None else now_s) - UPGRADE_COPY_DAYS * 86400
    for copy in await asyncio.to_thread(upgrade_copies, db_path):
        with contextlib.suppress(FileNotFoundError):
            if (await asyncio.to_thread(copy.stat)).st_mtime < limit:
                await _remove(copy)
                log.info(
                    "removed %s, kept since an upgrade over %d days ago", copy, UPGRADE_COPY_DAYS
                )


async def _database_bytes(db_path: Path) -> int:
    total = 0
    for path in (db_path, db_path.with_name(db_path.name + "-wal")):
        with contextlib.suppress(FileNotFoundError):
            total += (await asyncio.to_thread(path.stat)).st_size
    return total


async def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        await asyncio.to_thread(os.unlink, path)
