"""The database the settings name: SQLite in the data folder, or PostgreSQL (database.url)."""

from __future__ import annotations

from .config import Settings
from .db import Database, SqliteDatabase


def database_for(settings: Settings) -> Database:
    if settings.database.url:
        # Imported only here: asyncpg and redis are the `cluster` extra, not the appliance's.
        from .cluster.database import PostgresDatabase

        return PostgresDatabase(settings.database.url, bus_url=settings.bus.url)
    return SqliteDatabase(settings.db_path, synchronous=settings.db.synchronous)
