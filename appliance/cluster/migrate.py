"""`pychat migrate --to postgresql://...`: an appliance's SQLite database into PostgreSQL,
resumable and verified.

Every table of the chat (accounts, sessions, rooms, messages, reactions, read markers,
files' records, boards, settings, the event log...) is copied in its primary key's order,
in chunks, each chunk one transaction. A run that stops (killed, the network lost) leaves
PostgreSQL holding a prefix of each table, so the next run starts after the last key it
finds there: nothing is copied twice, nothing skipped. Then each table is verified: the
same number of rows and the same SHA-256 over all its rows in key order, on both sides.
Finally the ids and the log's head continue where SQLite's stopped (ids never reused).

The source is opened read-only and must not change meanwhile: a running server is refused.
The files themselves (the data folder's blob store) are content-addressed and copied as
they are, with the folder (docs/scaling.md).
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from ..db import migration_scripts as sqlite_migrations
from .postgres import connect_pool

# In an order where every row's references are copied before it.
TABLES = (
    "settings", "users", "sessions", "rooms", "members", "messages", "mentions", "reactions",
    "read_markers", "thread_reads", "invites", "password_resets", "blobs", "uploads",
    "boards", "board_ops", "notify_settings", "room_notify", "push_subscriptions",
    "mail_digest_marks", "events",
)  # fmt: skip
CHUNK = 5000  # rows a transaction


class MigrationRefused(Exception):
    pass


class MigrationFailed(Exception):
    """PostgreSQL refused a row or went away; what was committed stays, a rerun resumes."""


@dataclass
class TableReport:
    table: str
    rows: int  # in SQLite
    copied_now: int  # by this run
    verified: bool


@dataclass(frozen=True)
class _Shape:
    columns: list[str]  # copied, in the table's order (not generated ones)
    key: list[str]  # the primary key
    text_key: list[bool]  # which key columns are text (ordered bytewise on both sides)

    def order_by(self, postgres: bool, descending: bool = False) -> str:
        way = " DESC" if descending else ""
        parts = []
        for column, text in zip(self.key, self.text_key, strict=True):
            collate = ' COLLATE "C"' if postgres and text else ""
            parts.append(f"{column}{collate}{way}")
        return ", ".join(parts)


async def migrate(
    sqlite_path: Path,
    url: str,
    *,
    chunk: int = CHUNK,
    progress: Callable[[str], None] = lambda line: None,
) -> list[TableReport]:
    source = await asyncio.to_thread(_open_source, sqlite_path)
    try:
        pool = await connect_pool(url, max_size=2)
        try:
            run = await _begin_run(pool, sqlite_path)
            reports = []
            for table in TABLES:
                try:
                    shape = await _shape(pool, table)
                    copied = await _copy(source, pool, table, shape, chunk, progress)
                    rows, verified = await _verify(source, pool, table, shape, chunk)
                except asyncpg.PostgresError as e:
                    raise MigrationFailed(f"{table}: {e}") from e
                reports.append(TableReport(table, rows, copied, verified))
                progress(f"{table}: {rows} rows, {'verified' if verified else 'DIFFERENT'}")
            await _continue_counters(source, pool)
            if all(r.verified for r in reports):
                await pool.execute(
                    "UPDATE migration_runs SET finished_at = $2 WHERE id = $1", run, _now_ms()
                )
            return reports
        finally:
            await pool.close()
    finally:
        source.close()


async def _begin_run(pool: asyncpg.Pool[Any], source: Path) -> int:
    """Note this run; refuse a database holding rows no run of migrate wrote (the resume
    point would be taken from them, and SQLite's rows before it never copied)."""
    async with pool.acquire() as conn, conn.transaction():
        runs = await conn.fetchval("SELECT count(*) FROM migration_runs")
        if not runs:
            for table in TABLES:
                if await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {table})"):
                    raise MigrationRefused(
                        f"the database already holds {table} that pychat migrate did not"
                        " copy: migrate into a new, empty database"
                    )
        run: int = await conn.fetchval(
            "INSERT INTO migration_runs(source, started_at) VALUES ($1, $2) RETURNING id",
            str(source),
            _now_ms(),
        )
        return run


def _now_ms() -> int:
    return int(time.time() * 1000)


def _open_source(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise MigrationRefused(f"{path} does not exist: nothing to migrate")
    from ..backup.restore import database_in_use

    if database_in_use(path):
        raise MigrationRefused(
            f"a server has {path} open: stop it first (systemctl stop pychat), then run this"
            " again; the copy must not change while it is made"
        )
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    newest = sqlite_migrations()[-1][0]
    if version != newest:
        conn.close()
        raise MigrationRefused(
            f"{path} is at schema version {version}, this Pychat at {newest}: start this"
            " Pychat on the data folder once (it upgrades it), stop it, then migrate"
        )
    return conn


async def _shape(pool: asyncpg.Pool[Any], table: str) -> _Shape:
    columns = await pool.fetch(
        "SELECT column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = 'public' AND table_name = $1 AND is_generated = 'NEVER'"
        " ORDER BY ordinal_position",
        table,
    )
    key = await pool.fetch(
        "SELECT a.attname FROM pg_index i JOIN LATERAL unnest(i.indkey) WITH ORDINALITY"
        " AS k(attnum, n) ON true JOIN pg_attribute a ON a.attrelid = i.indrelid"
        " AND a.attnum = k.attnum WHERE i.indrelid = $1::regclass AND i.indisprimary"
        " ORDER BY k.n",
        table,
    )
    types = {r[0]: r[1] for r in columns}
    key_columns = [r[0] for r in key]
    return _Shape([r[0] for r in columns], key_columns, [types[c] == "text" for c in key_columns])


async def _copy(
    source: sqlite3.Connection,
    pool: asyncpg.Pool[Any],
    table: str,
    shape: _Shape,
    chunk: int,
    progress: Callable[[str], None],
) -> int:
    last = await pool.fetchrow(
        f"SELECT {', '.join(shape.key)} FROM {table}"
        f" ORDER BY {shape.order_by(postgres=True, descending=True)} LIMIT 1"
    )
    after: tuple[Any, ...] | None = tuple(last) if last else None
    total = await asyncio.to_thread(_count, source, table)
    copied = 0
    while True:
        rows = await asyncio.to_thread(_read_after, source, table, shape, after, chunk)
        if not rows:
            return copied
        async with pool.acquire() as conn, conn.transaction():
            await conn.copy_records_to_table(table, records=rows, columns=shape.columns)
        copied += len(rows)
        last_row = rows[-1]
        after = tuple(last_row[shape.columns.index(k)] for k in shape.key)
        progress(f"{table}: copied {copied} this run ({total} in all)")


def _count(source: sqlite3.Connection, table: str) -> int:
    return int(source.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def _read_after(
    source: sqlite3.Connection,
    table: str,
    shape: _Shape,
    after: tuple[Any, ...] | None,
    limit: int,
) -> list[tuple[Any, ...]]:
    where = ""
    params: tuple[Any, ...] = ()
    if after is not None:
        where = f" WHERE ({', '.join(shape.key)}) > ({', '.join('?' * len(shape.key))})"
        params = after
    sql = (
        f"SELECT {', '.join(shape.columns)} FROM {table}{where}"
        f" ORDER BY {shape.order_by(postgres=False)} LIMIT ?"
    )
    return [tuple(r) for r in source.execute(sql, (*params, limit))]


async def _verify(
    source: sqlite3.Connection, pool: asyncpg.Pool[Any], table: str, shape: _Shape, chunk: int
) -> tuple[int, bool]:
    """(rows in SQLite, whether PostgreSQL holds the same rows)."""
    lite = hashlib.sha256()
    count = 0
    after: tuple[Any, ...] | None = None
    while rows := await asyncio.to_thread(_read_after, source, table, shape, after, chunk):
        count += len(rows)
        _digest(lite, rows)
        after = tuple(rows[-1][shape.columns.index(k)] for k in shape.key)
    pg = hashlib.sha256()
    pg_count = 0
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
        query = (
            f"SELECT {', '.join(shape.columns)} FROM {table}"
            f" ORDER BY {shape.order_by(postgres=True)}"
        )
        async for record in conn.cursor(query, prefetch=chunk):
            pg_count += 1
            _digest(pg, [tuple(record)])
    return count, count == pg_count and lite.digest() == pg.digest()


def _digest(h: Any, rows: Sequence[tuple[Any, ...]]) -> None:
    for row in rows:
        h.update(repr(row).encode())
        h.update(b"\n")


async def _continue_counters(source: sqlite3.Connection, pool: asyncpg.Pool[Any]) -> None:
    """Ids and log positions go on from SQLite's highest ever, never reusing one."""
    used = dict(
        await asyncio.to_thread(
            lambda: source.execute("SELECT name, seq FROM sqlite_sequence").fetchall()
        )
    )
    async with pool.acquire() as conn, conn.transaction():
        with_ids = await conn.fetch(
            "SELECT table_name FROM information_schema.columns WHERE table_schema = 'public'"
            " AND column_name = 'id' AND is_identity = 'YES'"
        )
        for (table,) in with_ids:
            sequence = await conn.fetchval("SELECT pg_get_serial_sequence($1, 'id')", table)
            top = await conn.fetchval(f"SELECT coalesce(max(id), 0) FROM {table}")
            highest = max(int(top), int(used.get(table, 0)))
            if highest:
                await conn.execute("SELECT setval($1, $2)", sequence, highest)
        log_top = await conn.fetchval("SELECT coalesce(max(seq), 0) FROM events")
        head = max(int(log_top), int(used.get("events", 0)))
        await conn.execute("UPDATE event_log_head SET seq = greatest(seq, $1)", head)


def table_lines(reports: list[TableReport]) -> Iterator[str]:
    """The verification, as the command prints it."""
    width = max(len(r.table) for r in reports)
    for r in reports:
        state = "verified" if r.verified else "DIFFERENT"
        yield f"{r.table.ljust(width)}  {r.rows:>10}  (copied now {r.copied_now:>10})  {state}"
