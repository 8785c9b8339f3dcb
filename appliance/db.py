"""SQLite through aiosqlite: one writer task that group-commits, one reader connection.

Write jobs are coroutines that receive a `Tx`. Everything that arrived while the previous
batch was committing runs in one `BEGIN IMMEDIATE` transaction, so durability costs one
fsync per batch. Events a job emits are handed to `on_commit` only after the commit, in
`seq` order: nothing is published (or acknowledged) before it is durable.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import threading
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Generic, TypeVar

import aiosqlite

from . import db_upgrade
from .db_health import UNCHECKED, Integrity, quick_check, refuse_fresh_start, unreadable
from .db_index_repair import IndexRepairs, index_broken
from .engine import Database, Dialect, Event, Params, Reader, Row, SyncTx, Tx
from .errors import AppError, disk_full
from .write_queue import next_batch

__all__ = [
    "Database",
    "Dialect",
    "Event",
    "Params",
    "Reader",
    "Row",
    "SqliteDatabase",
    "SyncTx",
    "Tx",
]

log = logging.getLogger(__name__)
T = TypeVar("T")


def _params(params: Params) -> Any:
    return params if isinstance(params, Mapping) else tuple(params)


class SchemaTooNew(RuntimeError):
    pass


class SqliteTx:
    """The writer's connection for one job, and the events that job emitted."""

    dialect: Dialect = "sqlite"

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn
        self.events: list[Event] = []
        self.after_commit: list[Callable[[], Awaitable[None]]] = []

    def on_commit(self, fn: Callable[[], Awaitable[None]]) -> None:
        """Run `fn` once this transaction is durable (never if it rolls back): file
        removals, which cannot be undone, wait for the commit."""
        self.after_commit.append(fn)

    # One round trip to aiosqlite's thread per statement (execute + fetch + close in one):
    # the writer's throughput is bounded by these hops, not by SQLite.
    async def execute(self, sql: str, params: Params = ()) -> None:
        await self.conn.execute_fetchall(sql, _params(params))

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        rows = await self.conn.execute_fetchall(sql, _params(params))
        return next(iter(rows), None)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return list(await self.conn.execute_fetchall(sql, _params(params)))

    async def emit(
        self,
        kind: str,
        room_id: int | None,
        data: dict[str, Any],
        now: int,
        *,
        user_id: int | None = None,
    ) -> None:
        """Append to the event log inside this transaction (docs/architecture.md)."""
        data_json = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        row = await self.fetchone(_EMIT, (kind, room_id, user_id, data_json, now))
        assert row is not None
        self.events.append(Event(row[0], kind, room_id, user_id, data_json, now))


_EMIT = (
    "INSERT INTO events(kind, room_id, user_id, data, created_at)"
    " VALUES (?, ?, ?, ?, ?) RETURNING seq"
)


class SqliteSyncTx:
    """The writer's connection for one job that runs in the writer's own thread
    (`SqliteDatabase.write_sync`): plain calls, no hop to the event loop per statement. Python's
    sqlite3 keeps each SQL text prepared (its statement cache), so a repeated statement is
    only bound and stepped."""

    __slots__ = ("_cur", "events")
    dialect: Dialect = "sqlite"

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cur = cursor  # one for the whole run of jobs: a cursor per job costs ~1 µs
        self.events: list[Event] = []

    def execute(self, sql: str, params: Params = ()) -> None:
        self._cur.execute(sql, _params(params))

    def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        row: Row | None = self._cur.execute(sql, _params(params)).fetchone()
        return row

    def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return list(self._cur.execute(sql, _params(params)).fetchall())

    def emit(
        self,
        kind: str,
        room_id: int | None,
        data: dict[str, Any],
        now: int,
        *,
        user_id: int | None = None,
    ) -> None:
        """As `Tx.emit`."""
        data_json = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        self.emit_encoded(kind, room_id, data_json, now, user_id=user_id)

    def emit_encoded(
        self,
        kind: str,
        room_id: int | None,
        data_json: str,
        now: int,
        *,
        user_id: int | None = None,
    ) -> None:
        """As `emit`, with the data already encoded (compact, as `emit` writes it)."""
        seq = self._cur.execute(_EMIT, (kind, room_id, user_id, data_json, now)).fetchone()[0]
        self.events.append(Event(seq, kind, room_id, user_id, data_json, now))


# Who asks for a write (a WebSocket connection, set by web/ws.py for each command): told
# to the hub with the batch (`before_publish`), which writes that socket's events and its
# reply as one. Opaque here.
CALLER: ContextVar[object | None] = ContextVar("db_writer_caller", default=None)


@dataclass(eq=False, slots=True)
class _Job(Generic[T]):
    # One of the two: a coroutine (one hop per statement) or a function run in the
    # writer's thread (a run of them costs one hop together).
    fn: Callable[[Tx], Awaitable[T]] | None
    sync_fn: Callable[[SyncTx], T] | None
    future: asyncio.Future[T]
    caller: object | None = None
    events: list[Event] = field(default_factory=list)
    after_commit: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    result: Any = None
    error: Exception | None = None


def _run_in_thread(
    conn: sqlite3.Connection, jobs: list[_Job[Any]], begin: bool, commit: bool
) -> None:
    """Run a run of sync jobs in the writer's thread. A job that raises before it changed
    a row (a check, or a failing statement, which SQLite undoes by itself) fails alone and
    the others carry on; one that raises after a change, or that lost the transaction (SQLite
    rolls it all back on disk full or I/O errors), raises here, and the caller undoes the
    batch and runs each job alone. No savepoint per job: they cost ~15 µs a message."""
    if begin:
        conn.execute("BEGIN IMMEDIATE")
    cursor = conn.cursor()
    for job in jobs:
        assert job.sync_fn is not None
        tx = SqliteSyncTx(cursor)
        changes = conn.total_changes  # rows changed by completed statements (schema changes not)
        try:
            job.result = job.sync_fn(tx)
        except Exception as e:
            if conn.total_changes != changes or not conn.in_transaction:
                raise
            job.error = e
            continue
        job.events = tx.events
    if commit:
        conn.execute("COMMIT")  # the fsync, still in this thread: the loop never waits on it


async def _connect(path: Path, synchronous: str) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(path, isolation_level=None)
    try:
        await _configure(conn, synchronous)
    except BaseException:
        await conn.close()  # its thread would keep the process alive (a damaged file)
        raise
    return conn


async def _configure(conn: aiosqlite.Connection, synchronous: str) -> None:
    conn.row_factory = sqlite3.Row
    await conn.execute("PRAGMA journal_mode=WAL")
    await conn.execute(f"PRAGMA synchronous={synchronous}")
    await conn.execute("PRAGMA foreign_keys=ON")
    # Freed space is zeroed: deleted and edited text must not linger in free pages (or in
    # backups, which copy them).
    await conn.execute("PRAGMA secure_delete=ON")
    await conn.execute("PRAGMA busy_timeout=5000")


class SqliteDatabase:
    dialect: Dialect = "sqlite"

    def __init__(self, path: Path, *, synchronous: str = "FULL") -> None:
        self.path = path
        self.synchronous = synchronous
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._queue: asyncio.Queue[_Job[Any] | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.on_commit: Callable[[list[Event]], None] = lambda events: None
        # Before on_commit, the batch's callers (CALLER); after they are answered (their
        # futures settled), on_settled: the hub holds their sockets' writes in between.
        self.before_publish: Callable[[list[object]], None] = lambda callers: None
        self.on_settled: Callable[[], None] = lambda: None
        # The newest event handed to on_commit; events written by another process (the
        # `pychat user` commands) fill the gap before it, so no client ever skips one.
        self.published_seq = 0
        self.integrity = UNCHECKED  # the last integrity check (check_integrity)
        self._integrity_task: asyncio.Task[Integrity] | None = None
        self._integrity_stop = threading.Event()
        self._index_repairs = IndexRepairs()

    async def open(self) -> None:
        """Open (creating or migrating) the database. Raises DataFolderProblem, with a
        one-line diagnosis, for a damaged file or a set-up device that lost its database."""
        await asyncio.to_thread(self.path.parent.mkdir, mode=0o700, parents=True, exist_ok=True)
        await asyncio.to_thread(refuse_fresh_start, self.path)
        try:
            self._writer = await _connect(self.path, self.synchronous)
            await migrate(self._writer, self.path)
            self.published_seq = await self._head(self._writer)
            self._reader = await _connect(self.path, self.synchronous)
            await self._reader.execute("PRAGMA query_only=ON")
        except BaseException as e:
            for conn in (self._reader, self._writer):
                if conn is not None:
                    await conn.close()  # its thread would keep the process alive
            self._reader = self._writer = None
            if isinstance(e, sqlite3.DatabaseError):
                raise unreadable(self.path, e) from e
            raise
        self._task = asyncio.create_task(self._write_loop(), name="db-writer")

    def start_integrity_check(self, budget_s: float, now_ms: int) -> None:
        """Check in the background: a large database on a slow card must not hold up the
        start. `integrity_settled` waits for the answer."""
        self._integrity_task = asyncio.create_task(
            self.check_integrity(budget_s, now_ms), name="integrity-check"
        )

    async def integrity_settled(self) -> Integrity:
        if self._integrity_task is not None:
            await asyncio.shield(self._integrity_task)
        return self.integrity

    async def check_integrity(self, budget_s: float, now_ms: int) -> Integrity:
        """SQLite's quick_check, bounded by `budget_s`, on a connection of its own; the
        result is kept in `integrity` (a damage once found is not forgotten by a check that
        ran out of time) and logged."""
        found = await asyncio.to_thread(
            quick_check, self.path, budget_s=budget_s, now_ms=now_ms, stop=self._integrity_stop
        )
        if found.damaged:
            log.error("the database is damaged (%s): restore a backup", "; ".join(found.problems))
        elif found.status == "incomplete":
            log.warning("the database integrity check ran out of time (%.0f s)", budget_s)
        else:
            log.info("the database passed its integrity check in %.1f s", found.seconds)
        if not (self.integrity.damaged and found.status == "incomplete"):
            self.integrity = found
        return found

    async def empty_wal(self) -> None:
        """Copy the write-ahead log into the database file and truncate it, so pages it held
        (deleted text, chat/redaction.py) are gone from the disk. On a connection of its own
        in a thread: no reader waits on it. Busy through 3 waits of 5 s: OperationalError."""
        await asyncio.to_thread(_truncate_wal, self.path)

    async def close(self) -> None:
        if self._integrity_task is not None:
            self._integrity_stop.set()  # a check still running gives up at its next step
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await self._integrity_task
            self._integrity_task = None
        if self._task is not None:
            # Queued writes finish first: their callers may be waiting on them.
            self._queue.put_nowait(None)
            await self._task
            self._task = None
        for conn in (self._reader, self._writer):
            if conn is not None:
                await conn.close()
        self._reader = self._writer = None

    # -- reads ---------------------------------------------------------------------------

    @property
    def reader(self) -> aiosqlite.Connection:
        assert self._reader is not None, "database is not open"
        return self._reader

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        rows = await self.reader.execute_fetchall(sql, _params(params))
        return next(iter(rows), None)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return list(await self.reader.execute_fetchall(sql, _params(params)))

    # -- writes --------------------------------------------------------------------------

    async def write(self, fn: Callable[[Tx], Awaitable[T]]) -> T:
        """Run `fn` in the next group commit; return its result once it is durable."""
        if self._task is None or self._task.done():
            raise RuntimeError("database writer is not running")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Job(fn, None, future, CALLER.get()))
        return await future

    async def write_sync(self, fn: Callable[[SyncTx], T]) -> T:
        """As `write`, but `fn` runs in the writer's thread, with the jobs queued beside it,
        in one hop: for hot paths (a message sent). It must not touch the event loop or
        shared state, nor change the schema; what it returns (or raises) reaches the caller
        once durable. Raising after a write costs its batch a commit per job: check first."""
        if self._task is None or self._task.done():
            raise RuntimeError("database writer is not running")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Job(None, fn, future, CALLER.get()))
        return await future

    async def _write_loop(self) -> None:
        stopping = False
        while not stopping:
            batch, stopping = await next_batch(self._queue)
            if batch:
                await self._run_batch(batch)

    async def _run_batch(self, batch: list[_Job[Any]], *, may_repair: bool = True) -> None:
        conn = self._writer
        assert conn is not None
        since = self._index_repairs.generation
        try:
            began = committed = False
            i = 0
            while i < len(batch):
                if batch[i].sync_fn is not None:
                    # Consecutive sync jobs, with the BEGIN and (when they end the batch)
                    # the COMMIT, in one trip to the writer's thread.
                    j = i + 1
                    while j < len(batch) and batch[j].sync_fn is not None:
                        j += 1
                    committed = j == len(batch)
                    await _in_thread(conn, _run_in_thread, batch[i:j], not began, committed)
                    began = True
                    i = j
                    continue
                if not began:
                    await conn.execute("BEGIN IMMEDIATE")
                    began = True
                job, tx = batch[i], SqliteTx(conn)
                assert job.fn is not None
                job.result = await job.fn(tx)
                job.events = tx.events
                job.after_commit = tx.after_commit
                i += 1
            if not committed:
                await conn.commit()
        except Exception as e:
            # An async job failed, or the transaction or its commit did: undo the batch
            # and run each job alone so only the failing one sees its error.
            await _rollback(conn)
            if len(batch) > 1:
                for job in batch:
                    _reset(job)
                    await self._run_batch([job], may_repair=may_repair)
            elif may_repair and await self._repaired_search_index(conn, e, since):
                _reset(batch[0])
                await self._run_batch(batch, may_repair=False)
            else:
                _fail(batch[0], e)
            return
        except asyncio.CancelledError:
            await _rollback(conn)
            for job in batch:
                job.future.cancel()
            raise
        events = [e for job in batch for e in job.events]
        if events:
            if events[0].seq > self.published_seq + 1:
                events = await self._events_between(self.published_seq, events[0].seq) + events
            self.published_seq = events[-1].seq
            try:
                self.before_publish([job.caller for job in batch if job.caller is not None])
            except Exception:  # without the hold, the events are still published
                log.exception("holding the callers' sockets failed")
            try:
                self.on_commit(events)
            except Exception:
                log.exception("publishing committed events failed")
        # Before the next batch runs: a later job may put back a file this one removes.
        for job in batch:
            for fn in job.after_commit:
                try:
                    await fn()
                except Exception:
                    log.exception("work after a commit failed")
        # Jobs that failed alone on a corrupt search index are tried again once it is rebuilt.
        broken = next((j.error for j in batch if j.error and index_broken(j.error)), None)
        again: list[_Job[Any]] = []
        if broken and may_repair and await self._repaired_search_index(conn, broken, since):
            again = [j for j in batch if j.error is not None and index_broken(j.error)]
        for job in batch:
            if job.error is not None and not any(job is j for j in again):
                _fail(job, job.error)  # it alone was rolled back (its savepoint)
            elif job.error is None:
                _settle(job.future, result=job.result)
        if events:
            try:
                self.on_settled()
            except Exception:  # the batch is committed and answered: only log it
                log.exception("releasing the callers' sockets failed")
        if again:
            for job in again:
                _reset(job)
            await self._run_batch(again, may_repair=False)

    async def _repaired_search_index(
        self, conn: aiosqlite.Connection, error: Exception, since: int
    ) -> bool:
        """Whether a write that failed with `error` (its batch began at repair generation
        `since`) should run again: the search index was found corrupt and is rebuilt now
        (in a transaction of its own: none is open between batches) or was meanwhile."""
        return await self._index_repairs.after_write(error, since, lambda fn: _in_thread(conn, fn))

    @property
    def search_index_repairs(self) -> IndexRepairs:
        """The search index's rebuilds since the start (the admin's storage page)."""
        return self._index_repairs

    @property
    def search_index_generation(self) -> int:
        """Rebuilds of the search index so far: read before a search, for
        `repaired_search_index`."""
        return self._index_repairs.generation

    async def repaired_search_index(self, error: Exception, since: int) -> bool:
        """Whether a search that failed with `error` (begun at generation `since`) should be
        asked again: the index was found corrupt and is rebuilt now (on the writer, in order
        with the writes) or was meanwhile."""
        return await self._index_repairs.after_read(error, since, self.write_sync)

    async def publish_foreign_events(self) -> None:
        """Publish events that another process committed (checked periodically)."""
        if await self._head(self.reader) <= self.published_seq:
            return

        async def adopt(tx: Tx) -> None:
            assert isinstance(tx, SqliteTx)
            # Runs on the writer, in order with our own commits: no event is published twice.
            head = await self._head(tx.conn)
            tx.events.extend(await self._events_between(self.published_seq, head + 1))

        await self.write(adopt)

    async def _head(self, conn: aiosqlite.Connection) -> int:
        async with conn.execute("SELECT coalesce(max(seq), 0) FROM events") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def _events_between(self, after: int, before: int) -> list[Event]:
        assert self._writer is not None
        async with self._writer.execute(
            "SELECT seq, kind, room_id, user_id, data, created_at FROM events"
            " WHERE seq > ? AND seq < ? ORDER BY seq",
            (after, before),
        ) as cur:
            rows = await cur.fetchall()
        return [Event(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]


async def _in_thread(conn: aiosqlite.Connection, fn: Callable[..., T], *args: Any) -> T:
    """Call `fn(sqlite3_connection, *args)` in the connection's own thread: one hop, as
    one statement costs (aiosqlite has no public call for it)."""
    result: T = await conn._execute(fn, conn._conn, *args)  # type: ignore[no-untyped-call]
    return result


def _reset(job: _Job[Any]) -> None:
    """The job as it was queued, to run again."""
    job.events, job.after_commit, job.result, job.error = [], [], None, None


def _fail(job: _Job[Any], e: Exception) -> None:
    if disk_full(e) is not None:
        # Not a bug; the next write tries again once space is freed.
        log.warning("a write was refused: the disk is full")
    elif not isinstance(e, AppError):
        log.error("write job failed", exc_info=e)
    _settle(job.future, error=e)


def _settle(
    future: asyncio.Future[Any], *, result: Any = None, error: Exception | None = None
) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


async def _rollback(conn: aiosqlite.Connection) -> None:
    try:
        await conn.rollback()
        if conn.in_transaction:
            await conn.execute("ROLLBACK")
    except sqlite3.Error:
        log.exception("rollback failed")


# -- migrations ------------------------------------------------------------------------------


def _truncate_wal(path: Path, attempts: int = 3) -> None:
    # A steady stream of sends can keep the checkpoint from the lock past one busy timeout
    # (CI saw it once in test_scrub_while_sending): a few more tries before giving up.
    conn = sqlite3.connect(path, timeout=5, isolation_level=None)
    try:
        for _ in range(attempts):
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if not busy:
                return
    finally:
        conn.close()
    raise sqlite3.OperationalError("the database was busy; the log was not emptied")


def migration_scripts() -> list[tuple[int, str]]:
    """Numbered migrations shipped in the package, as (version, sql), in order."""
    folder = resources.files("appliance") / "migrations"
    found = []
    for entry in folder.iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            found.append((int(name[:4]), entry.read_text(encoding="utf-8")))
    return sorted(found)


async def migrate(
    conn: aiosqlite.Connection,
    db_path: Path | None = None,
    *,
    scripts: list[tuple[int, str]] | None = None,
    target: int | None = None,
) -> int:
    """Bring the schema to the newest version (or `target`), all pending migrations in one
    transaction (db_upgrade.py: a failure leaves the file as it was; `db_path` names the
    file, to keep a copy of it first); refuse a database newer than this code."""
    if scripts is None:
        scripts = await asyncio.to_thread(migration_scripts)  # files: read off the loop
    if target is not None:
        scripts = [s for s in scripts if s[0] <= target]
    newest = scripts[-1][0] if scripts else 0
    async with conn.execute("PRAGMA user_version") as cur:
        row = await cur.fetchone()
    current = int(row[0]) if row else 0
    if current > newest:
        raise SchemaTooNew(
            f"the database is at schema version {current}, newer than this Pychat ({newest});"
            " upgrade Pychat or restore a matching backup"
        )
    pending = [s for s in scripts if s[0] > current]
    if pending:
        await db_upgrade.apply(conn, db_path, current, pending)
    elif db_path is not None:
        await db_upgrade.drop_stale_copies(db_path)
    return newest
