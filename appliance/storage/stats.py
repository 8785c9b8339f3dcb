"""Figures about the database for the admin page and backups: row counts, schema version.

The async functions read the live database; the `snapshot_*` ones take a plain `sqlite3`
connection to a copy (a backup being made or checked) and block: call them in a thread.
"""

from __future__ import annotations

import sqlite3

from . import Reader
from .dialect import spelled

# What a backup's manifest records and a restore checks, and what the admin page shows.
# "users" are people: system accounts (Echo) are not counted, in copies made before schema
# version 7 (no `system` column) every account is.
COUNTED = ("users", "rooms", "messages")
_COUNTS_SQL = (
    "SELECT (SELECT count(*) FROM users WHERE system = 0), (SELECT count(*) FROM rooms),"
    " (SELECT count(*) FROM messages WHERE deleted = 0)"
)
_COUNTS_SQL_BEFORE_7 = _COUNTS_SQL.replace(" WHERE system = 0", "")
# What a restore reports about the backup it would put in place.
_SHOWN_SETTINGS = ("org_name", "device_name", "setup_done")


async def counts(db: Reader) -> dict[str, int]:
    row = await db.fetchone(_COUNTS_SQL)
    assert row is not None
    return dict(zip(COUNTED, map(int, row), strict=True))


async def schema_version(db: Reader) -> int:
    row = await db.fetchone(
        spelled(
            db,
            sqlite="PRAGMA user_version",
            postgresql="SELECT max(version) FROM schema_version",  # cluster/postgres.py
        )
    )
    return int(row[0]) if row is not None else 0


def snapshot_counts(conn: sqlite3.Connection) -> dict[str, int]:
    columns = {str(r[1]) for r in conn.execute("PRAGMA table_info(users)")}
    row = conn.execute(_COUNTS_SQL if "system" in columns else _COUNTS_SQL_BEFORE_7).fetchone()
    return dict(zip(COUNTED, map(int, row), strict=True))


def snapshot_schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def snapshot_integrity(conn: sqlite3.Connection) -> str:
    """`ok`, or SQLite's first complaint."""
    row = conn.execute("PRAGMA integrity_check(1)").fetchone()
    return str(row[0]) if row is not None else "no answer"


def snapshot_schema(conn: sqlite3.Connection) -> set[tuple[str, str, str, str]]:
    """Every table, index, trigger and view as (type, name, table, sql): what a copy made by
    these migrations must have, exactly."""
    rows = conn.execute("SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_master")
    return {(str(a), str(b), str(c), str(d)) for a, b, c, d in rows}


def snapshot_settings(conn: sqlite3.Connection) -> dict[str, str]:
    marks = ",".join("?" * len(_SHOWN_SETTINGS))
    rows = conn.execute(f"SELECT key, value FROM settings WHERE key IN ({marks})", _SHOWN_SETTINGS)
    return {str(k): str(v) for k, v in rows}
