"""An online, consistent copy of the database (SQLite's backup API), safe while serving."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from .errors import AppError


def backup_database(source: Path, out: Path) -> None:
    if not source.is_file():
        raise AppError(f"No database at {source}.")
    out = out.resolve()
    tmp = out.with_name(out.name + ".partial")
    tmp.unlink(missing_ok=True)
    src = sqlite3.connect(source, timeout=30)
    try:
        dst = sqlite3.connect(tmp)
        try:
            # One step (pages=-1) copies a single read snapshot: concurrent writes in WAL mode
            # neither block it nor make it restart.
            src.backup(dst, pages=-1)
            dst.execute("PRAGMA journal_mode=DELETE")
            check = dst.execute("PRAGMA integrity_check").fetchone()
            if check is None or check[0] != "ok":
                raise AppError("The backup failed its integrity check.")
        finally:
            dst.close()
    finally:
        src.close()
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, out)
