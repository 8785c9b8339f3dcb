"""The database's health: a data folder that lost its database, a database that cannot be
read, and the bounded integrity check the admin storage page reports.

A set-up device whose database is missing or empty must not start as new: the new database
would know none of the uploaded files, and the file sweep would remove them all. A database
SQLite cannot open is a diagnosis for a person, not a traceback. Both are `DataFolderProblem`
(the process exits with `EXIT_STATUS`, which the systemd unit does not restart).

Everything here blocks: call it in a thread from a running loop.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

EXIT_STATUS = 3  # the data folder needs a person: restarting cannot help
MAX_PROBLEMS = 10  # SQLite's complaints kept (and shown) from one check
# What SQLite calls a damaged or foreign file (the message of the error code).
_DAMAGE_CODES = frozenset({"SQLITE_CORRUPT", "SQLITE_NOTADB"})
_UPLOADS = "files"
_UNFINISHED = "tmp"  # files/tmp/ holds half-received uploads, not data
_SIGNS_IN_TLS = ("ca.key", "server.key", "custom.key")


class DataFolderProblem(Exception):
    """The data folder cannot be served as it is; the message (one line) says what to do."""


def damage_of(error: sqlite3.Error) -> bool:
    """Whether SQLite's error means the file is damaged (or no database at all)."""
    name = getattr(error, "sqlite_errorname", "")
    return name in _DAMAGE_CODES or "malformed" in str(error)


def _remedy(data_dir: Path) -> str:
    return (
        f"restore a backup (pychat restore --data {data_dir} FILE) or, to start over with"
        f" nothing, run pychat factory-reset --data {data_dir} --yes"
    )


def unreadable(db_path: Path, error: sqlite3.Error) -> DataFolderProblem:
    """The diagnosis for a database that failed to open."""
    data_dir = db_path.parent
    if damage_of(error):
        return DataFolderProblem(
            f"the database {db_path} is damaged ({error}): {_remedy(data_dir)}."
        )
    return DataFolderProblem(f"the database {db_path} cannot be opened ({error}).")


# -- a set-up device without its database ---------------------------------------------------


def _has_tables(db_path: Path) -> bool:
    """False for a missing, empty or table-less database; True otherwise (a damaged file
    included: opening it says what is wrong)."""
    try:
        if db_path.stat().st_size == 0 and not _wal_bytes(db_path):
            return False
    except FileNotFoundError:
        return False
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return True
    try:
        row = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return bool(row and row[0])
    except sqlite3.Error:
        return True
    finally:
        conn.close()


def _wal_bytes(db_path: Path) -> int:
    try:
        return db_path.with_name(db_path.name + "-wal").stat().st_size
    except FileNotFoundError:
        return 0


def _any_upload(root: Path) -> bool:
    """Whether files/ holds a stored file (stopping at the first one found)."""
    if not root.is_dir():
        return False
    for path in root.rglob("*"):
        if path.is_file() and path.relative_to(root).parts[0] != _UNFINISHED:
            return True
    return False


def set_up_signs(data_dir: Path, db_path: Path) -> list[str]:
    """What shows that this data folder belonged to a device in use."""
    signs = []
    if _any_upload(data_dir / _UPLOADS):
        signs.append("uploaded files")
    if any((data_dir / "tls" / name).is_file() for name in _SIGNS_IN_TLS):
        signs.append("certificates")
    if _wal_bytes(db_path):
        signs.append("a write-ahead log")
    return signs


def refuse_fresh_start(db_path: Path) -> None:
    """Raise DataFolderProblem when the database is missing or empty but the data folder
    shows a device in use: a fresh database would disown (and the sweep delete) its files."""
    if _has_tables(db_path):
        return
    signs = set_up_signs(db_path.parent, db_path)
    if not signs:
        return  # a first boot
    state = "missing" if not db_path.exists() else "empty"
    raise DataFolderProblem(
        f"the database {db_path} is {state}, but the data folder holds {' and '.join(signs)}"
        f" of a device in use; starting fresh would orphan them: {_remedy(db_path.parent)}."
    )


# -- the integrity check ----------------------------------------------------------------------


@dataclass(frozen=True)
class Integrity:
    """The last integrity check: ok, damaged (SQLite's complaints), incomplete (it ran out
    of time), or unchecked."""

    status: str
    problems: tuple[str, ...] = ()
    checked_at: int | None = None  # ms since the epoch
    seconds: float = 0.0

    @property
    def damaged(self) -> bool:
        return self.status == "damaged"

    def message(self) -> str:
        if self.status == "ok":
            return "The database passed its integrity check."
        if self.status == "damaged":
            return (
                f"The database is damaged ({self.problems[0] if self.problems else 'unknown'})."
                " New backups cannot be made from it: restore the newest good backup."
            )
        if self.status == "incomplete":
            return "The integrity check ran out of time; it runs again at the next start."
        return "The database has not been checked yet."

    def to_api(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "problems": list(self.problems),
            "checked_at": self.checked_at,
            "message": self.message(),
        }


UNCHECKED = Integrity("unchecked")


def found_damage(problem: str, now_ms: int) -> Integrity:
    """Damage noticed outside a check (a backup that failed on it)."""
    return Integrity("damaged", (problem[:500],), now_ms)


def quick_check(
    db_path: Path, *, budget_s: float, now_ms: int, stop: threading.Event | None = None
) -> Integrity:
    """SQLite's `quick_check` (every page and record, no index cross-check) on a read-only
    connection of its own, given up after `budget_s` seconds or when `stop` is set (the
    server is stopping)."""
    started = time.monotonic()
    deadline = started + budget_s
    stopping = stop or threading.Event()
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error as e:
        return Integrity("damaged", (str(e),), now_ms)
    try:
        # Asked between steps of the check: a large database on a slow card stops in time.
        conn.set_progress_handler(lambda: stopping.is_set() or time.monotonic() > deadline, 1000)
        rows = conn.execute(f"PRAGMA quick_check({MAX_PROBLEMS})").fetchall()
    except sqlite3.OperationalError as e:
        if (stopping.is_set() or time.monotonic() > deadline) and "interrupted" in str(e):
            return Integrity("incomplete", (), now_ms, time.monotonic() - started)
        return Integrity("damaged", (str(e),), now_ms, time.monotonic() - started)
    except sqlite3.DatabaseError as e:
        return Integrity("damaged", (str(e),), now_ms, time.monotonic() - started)
    finally:
        conn.close()
    seconds = time.monotonic() - started
    problems = tuple(str(r[0])[:500] for r in rows)
    if problems == ("ok",):
        return Integrity("ok", (), now_ms, seconds)
    return Integrity("damaged", problems, now_ms, seconds)
