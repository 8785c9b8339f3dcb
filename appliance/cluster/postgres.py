"""Connecting to PostgreSQL and bringing its schema up to date."""

from __future__ import annotations

from typing import Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from .schema import SCRIPTS

# A connection of its own or one lent by a pool: both run statements the same way.
Connection: TypeAlias = "asyncpg.Connection[Any] | PoolConnectionProxy[Any]"

# Held while migrating, so nodes that start together migrate once, one after the other.
_MIGRATION_LOCK = 0x70796368  # "pych"


def migration_scripts() -> list[tuple[int, str]]:
    """The PostgreSQL migrations (`schema/`), as (version, sql), in order."""
    return sorted(SCRIPTS)


COMMAND_TIMEOUT_S = 60.0  # a statement stuck longer (a lock never released) fails, loudly


async def connect_pool(url: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool[Any]:
    """A pool on `url` (postgresql://...), its schema migrated to this code's newest."""
    pool = await asyncpg.create_pool(
        url, min_size=min_size, max_size=max_size, command_timeout=COMMAND_TIMEOUT_S
    )
    try:
        async with pool.acquire() as conn:
            await migrate(conn)
    except BaseException:
        await pool.close()
        raise
    return pool


async def migrate(conn: Connection) -> int:
    """Apply the pending migrations, each in its own transaction; the version now."""
    scripts = migration_scripts()
    await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
    try:
        await conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)")
        current = await conn.fetchval("SELECT max(version) FROM schema_version") or 0
        newest = scripts[-1][0] if scripts else 0
        if current > newest:
            raise RuntimeError(
                f"the database is at schema version {current}, newer than this Pychat"
                f" ({newest}); upgrade Pychat"
            )
        for version, sql in scripts:
            if version > current:
                async with conn.transaction():
                    await conn.execute(sql)
                    await conn.execute("INSERT INTO schema_version VALUES ($1)", version)
        return newest
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
