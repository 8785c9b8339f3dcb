"""Which engine holds a data folder's data, as the folder says: a mark left once its data
is in PostgreSQL, so that commands started without the database's URL still know."""

from __future__ import annotations

import asyncio
from pathlib import Path

from .config import Settings

POSTGRESQL_MARK = "on-postgresql"  # in the data folder, once PostgreSQL holds its data
NO_SQLITE_COMMANDS = (
    "this data folder's data is in PostgreSQL (its file on-postgresql says so): back it up"
    " with pg_dump, then copy the shared data folder (docs/scaling.md, Backups); `pychat"
    " backup`, `restore` and `factory-reset` are the appliance's, for SQLite (a SQLite file"
    " here is from before the move: stale). To go back to SQLite, remove on-postgresql"
)
_MARK_TEXT = (
    "This data folder's database is PostgreSQL (docs/scaling.md): a SQLite file here is\n"
    "from before `pychat migrate`, stale. pychat backup and restore refuse this folder.\n"
)


def mark_postgresql(data_dir: Path) -> None:
    """Said in the data folder by every node and command on PostgreSQL and by `pychat
    migrate`: the commands that copy SQLite's file (backup, restore) refuse the folder even
    when started without the database's URL, and a staged restore is not applied."""
    mark = data_dir / POSTGRESQL_MARK
    if not mark.exists():
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        mark.write_text(_MARK_TEXT, encoding="utf-8")


async def opened(settings: Settings) -> None:
    """Once a database has opened: a PostgreSQL one marks the data folder (a mistyped URL,
    which never opens, marks nothing)."""
    if settings.database.url:
        await asyncio.to_thread(mark_postgresql, settings.data_dir)


def on_postgresql(settings: Settings) -> bool:
    """Whether this data folder's data is in PostgreSQL (a URL set, or the mark)."""
    return bool(settings.database.url) or (settings.data_dir / POSTGRESQL_MARK).exists()
