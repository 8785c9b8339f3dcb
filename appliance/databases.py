"""The database the settings name: SQLite in the data folder, or PostgreSQL (database.url)."""

from __future__ import annotations

from .config import ConfigError, Settings
from .db import Database, SqliteDatabase
from .engine_mark import POSTGRESQL_MARK, on_postgresql


def database_for(settings: Settings) -> Database:
    if not settings.database.url and on_postgresql(settings):
        # A node or command started without the URL would serve or change the SQLite file
        # left from before the move: stale, and then apart from everyone else's data.
        raise ConfigError(
            f"database.url: this data folder's data is in PostgreSQL ({POSTGRESQL_MARK}):"
            " give its URL (--database or PYCHAT_DATABASE_URL); to go back to SQLite, remove"
            f" {settings.data_dir / POSTGRESQL_MARK}"
        )
    if settings.database.url:
        # Imported only here: asyncpg and redis are the `cluster` extra, not the appliance's.
        from .cluster.database import PostgresDatabase

        return PostgresDatabase(settings.database.url, bus_url=settings.bus.url)
    return SqliteDatabase(settings.db_path, synchronous=settings.db.synchronous)
