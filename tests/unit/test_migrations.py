"""Schema migrations and connection settings, on real SQLite files in a temporary folder."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from appliance.db import SchemaTooNew, SqliteDatabase, Tx, migration_scripts

NEWEST = migration_scripts()[-1][0]
TABLES = {"settings", "users", "sessions", "invites", "rooms", "members", "messages", "events"}
SYNCHRONOUS = {"NORMAL": 1, "FULL": 2, "EXTRA": 3}


def sqlite_workers() -> set[threading.Thread]:
    """aiosqlite's per-connection threads that are running now."""
    return {
        t for t in threading.enumerate() if "_connection_worker_thread" in t.name and t.is_alive()
    }


def file_facts(path: Path) -> tuple[int, set[str]]:
    """user_version and table names, read with a plain sqlite3 connection."""
    db = sqlite3.connect(path)
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        return version, tables
    finally:
        db.close()


@pytest.fixture
async def opened(tmp_path: Path) -> AsyncIterator[SqliteDatabase]:
    db = SqliteDatabase(tmp_path / "pychat.db")
    await db.open()
    try:
        yield db
    finally:
        await db.close()


def test_migrations_are_numbered_from_one_without_gaps() -> None:
    versions = [v for v, _ in migration_scripts()]
    assert versions == list(range(1, len(versions) + 1))
    assert all(sql.strip() for _, sql in migration_scripts())


async def test_an_empty_database_migrates_to_the_newest_version(tmp_path: Path) -> None:
    path = tmp_path / "fresh" / "pychat.db"
    db = SqliteDatabase(path)
    await db.open()
    await db.close()
    version, tables = file_facts(path)
    assert version == NEWEST
    assert tables >= TABLES


async def test_reopening_keeps_the_version_and_the_data(tmp_path: Path) -> None:
    path = tmp_path / "pychat.db"
    db = SqliteDatabase(path)
    await db.open()
    try:

        async def job(tx: Tx) -> None:
            await tx.execute("INSERT INTO settings(key, value) VALUES ('probe', 'kept')")

        await db.write(job)
    finally:
        await db.close()

    again = SqliteDatabase(path)
    await again.open()
    try:
        row = await again.fetchone("SELECT value FROM settings WHERE key = 'probe'")
        assert row is not None and row[0] == "kept"
        version = await again.fetchone("PRAGMA user_version")
        assert version is not None and version[0] == NEWEST
    finally:
        await again.close()


async def test_a_database_newer_than_the_code_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "pychat.db"
    plain = sqlite3.connect(path)
    plain.execute(f"PRAGMA user_version = {NEWEST + 1}")
    plain.execute("CREATE TABLE from_the_future (x)")
    plain.close()
    workers_before = sqlite_workers()

    db = SqliteDatabase(path)
    try:
        with pytest.raises(SchemaTooNew) as refused:
            await db.open()
        assert str(NEWEST + 1) in str(refused.value)
        # Refusing opens nothing that stays open: a leaked aiosqlite thread keeps the
        # process (`pychat serve` under systemd, any CLI command) from ever exiting.
        leaked = sqlite_workers() - workers_before
        for thread in leaked:
            thread.join(timeout=5)
        assert not [t for t in leaked if t.is_alive()], "an aiosqlite connection was left open"
    finally:
        await db.close()

    assert file_facts(path) == (NEWEST + 1, {"from_the_future"})


@pytest.mark.parametrize("synchronous", ["FULL", "NORMAL", "EXTRA"])
async def test_pragmas_are_in_force_on_both_connections(tmp_path: Path, synchronous: str) -> None:
    db = SqliteDatabase(tmp_path / "pychat.db", synchronous=synchronous)
    await db.open()
    try:
        pragmas = ("journal_mode", "synchronous", "foreign_keys")

        async def on_writer(tx: Tx) -> dict[str, Any]:
            out = {}
            for name in pragmas:
                row = await tx.fetchone(f"PRAGMA {name}")
                assert row is not None
                out[name] = row[0]
            return out

        writer = await db.write(on_writer)
        reader = {}
        for name in pragmas:
            row = await db.fetchone(f"PRAGMA {name}")
            assert row is not None
            reader[name] = row[0]
        expected = {
            "journal_mode": "wal",
            "synchronous": SYNCHRONOUS[synchronous],
            "foreign_keys": 1,
        }
        assert writer == expected
        assert reader == expected
    finally:
        await db.close()


async def test_the_writer_enforces_foreign_keys(opened: SqliteDatabase) -> None:
    async def orphan(tx: Tx) -> None:
        await tx.execute(
            "INSERT INTO sessions(token_hash, user_id, created_at, expires_at, last_used_at)"
            " VALUES (x'00', 424242, 0, 1, 0)"
        )

    with pytest.raises(sqlite3.IntegrityError):
        await opened.write(orphan)
    row = await opened.fetchone("SELECT count(*) FROM sessions")
    assert row is not None and row[0] == 0


async def test_the_reader_cannot_write(opened: SqliteDatabase) -> None:
    with pytest.raises(sqlite3.OperationalError):
        await opened.fetchone(
            "INSERT INTO settings(key, value) VALUES ('sneaky', 'x') RETURNING key"
        )
    row = await opened.fetchone("SELECT count(*) FROM settings WHERE key = 'sneaky'")
    assert row is not None and row[0] == 0
