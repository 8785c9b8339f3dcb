"""PostgreSQL's chat schema (appliance/cluster/schema/) keeps step with SQLite's: the same
tables, columns, NOT NULLs and kinds of value. A SQLite migration without its PostgreSQL
twin fails here, naming what differs."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import asyncpg
import pytest

from appliance.cluster.postgres import connect_pool
from appliance.db import migration_scripts

SQLITE_ONLY_TABLES = {"sqlite_sequence"}  # and FTS5's messages_fts*: PostgreSQL's is a column
POSTGRES_ONLY_TABLES = {"schema_version", "event_log_head", "migration_runs"}
POSTGRES_ONLY_COLUMNS = {("messages", "search")}  # FTS5's index, as a tsvector column
# SQLite's declared type -> the PostgreSQL types that hold the same values.
SAME_VALUES = {"INTEGER": {"bigint", "integer"}, "TEXT": {"text", "json"}, "BLOB": {"bytea"}}

Columns = dict[str, dict[str, tuple[bool, str]]]  # table -> column -> (not null, type)


def sqlite_columns(folder: Path) -> Columns:
    conn = sqlite3.connect(folder / "schema.sqlite3")
    try:
        for _, sql in migration_scripts():
            conn.executescript(sql)
        tables = [
            r[0]
            for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if r[0] not in SQLITE_ONLY_TABLES and not r[0].startswith("messages_fts")
        ]
        found: Columns = {}
        for table in tables:
            # (cid, name, type, notnull, default, pk): a primary key is never NULL.
            rows = conn.execute(f"PRAGMA table_info({table})").fetchall()
            found[table] = {r[1]: (bool(r[3] or r[5]), r[2].upper()) for r in rows}
        return found
    finally:
        conn.close()


async def postgres_columns(url: str) -> Columns:
    pool = await connect_pool(url)
    try:
        rows = await pool.fetch(
            "SELECT table_name, column_name, is_nullable, data_type"
            " FROM information_schema.columns WHERE table_schema = 'public'"
        )
    finally:
        await pool.close()
    found: Columns = {}
    for r in rows:
        if r["table_name"] in POSTGRES_ONLY_TABLES:
            continue
        if (r["table_name"], r["column_name"]) in POSTGRES_ONLY_COLUMNS:
            continue
        found.setdefault(r["table_name"], {})[r["column_name"]] = (
            r["is_nullable"] == "NO",
            r["data_type"],
        )
    return found


async def test_postgresql_has_sqlites_tables_columns_and_not_nulls(
    database_url: str, tmp_path: Path
) -> None:
    lite = sqlite_columns(tmp_path)
    pg = await postgres_columns(database_url)
    assert sorted(pg) == sorted(lite), "tables differ"
    for table, columns in lite.items():
        assert sorted(pg[table]) == sorted(columns), f"{table}: columns differ"
        for column, (not_null, declared) in columns.items():
            pg_not_null, pg_type = pg[table][column]
            assert pg_not_null == not_null, f"{table}.{column}: NOT NULL differs"
            assert pg_type in SAME_VALUES[declared], f"{table}.{column}: {declared} as {pg_type}"


async def test_search_finds_words_by_prefix_and_without_their_accents(database_url: str) -> None:
    pool = await connect_pool(database_url)
    try:
        user = await pool.fetchval(
            "INSERT INTO users(username, display_name, password_hash, created_at)"
            " VALUES ('ann', 'Ann', 'x', 0) RETURNING id"
        )
        room = await pool.fetchval(
            "INSERT INTO rooms(kind, name, created_at) VALUES ('channel', 'food', 0) RETURNING id"
        )
        for body in ("Crème brûlée for dessert", "a plain message", "creamy soup"):
            await pool.execute(
                "INSERT INTO messages(room_id, author_id, body, created_at) VALUES ($1, $2, $3, 0)",
                room,
                user,
                body,
            )

        async def search(query: str) -> list[str]:
            rows = await pool.fetch(
                "SELECT body FROM messages WHERE search @@ to_tsquery('simple', $1) ORDER BY id",
                query,
            )
            return [r[0] for r in rows]

        assert await search("creme") == ["Crème brûlée for dessert"]
        assert await search("brulee & dessert") == ["Crème brûlée for dessert"]
        assert await search("crem:*") == ["Crème brûlée for dessert"]
        assert await search("crea:*") == ["creamy soup"]
        assert await search("soup & creme") == []
    finally:
        await pool.close()


async def test_a_username_is_unique_whatever_its_ascii_case_as_in_sqlite(database_url: str) -> None:
    pool = await connect_pool(database_url)
    try:
        insert = (
            "INSERT INTO users(username, display_name, password_hash, created_at)"
            " VALUES ($1, 'x', 'x', 0)"
        )
        await pool.execute(insert, "Ann")
        with pytest.raises(asyncpg.UniqueViolationError):
            await pool.execute(insert, "aNN")
        # As SQLite's NOCASE: only ASCII letters fold, so these two are different names.
        await pool.execute(insert, "Émile")
        await pool.execute(insert, "émile")
    finally:
        await pool.close()


def test_migrate_copies_every_table_sqlite_has(tmp_path: Path) -> None:
    from appliance.cluster.migrate import TABLES

    assert sorted(TABLES) == sorted(sqlite_columns(tmp_path))
