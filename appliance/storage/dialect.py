"""The few statements whose spelling differs between SQLite and PostgreSQL.

Storage writes SQL once, in SQLite's spelling; the PostgreSQL side translates parameters and
drops index hints by itself (cluster/sql.py). What it cannot translate (JSON functions,
NOCASE comparisons, full-text search) is written twice, side by side, and chosen here by
the engine of the reader or transaction at hand.
"""

from __future__ import annotations

from typing import Protocol

from ..engine import Dialect


class _HasDialect(Protocol):
    @property
    def dialect(self) -> Dialect: ...


def spelled(db: _HasDialect, *, sqlite: str, postgresql: str) -> str:
    """`sqlite` or `postgresql`, as `db`'s engine reads it."""
    return postgresql if db.dialect == "postgresql" else sqlite


def nocase_equals(db: _HasDialect, column: str) -> str:
    """`column` equals the next parameter, ASCII letters compared without case (SQLite's
    NOCASE; on PostgreSQL the form its lower(... COLLATE "C") indexes match)."""
    return spelled(
        db,
        sqlite=f"{column} = ? COLLATE NOCASE",
        postgresql=f'lower({column} COLLATE "C") = lower(? COLLATE "C")',
    )


def nocase_order(db: _HasDialect, column: str) -> str:
    return spelled(db, sqlite=f"{column} COLLATE NOCASE", postgresql=f'lower({column} COLLATE "C")')
