"""The chat's database on PostgreSQL: what `db.SqliteDatabase` gives, for several nodes.

Writes group-commit as on SQLite: the jobs queued while a batch commits share the next
transaction, and their events take their positions last, together, from the log's head row
(event_log.py, docs/architecture.md "The log's order on several nodes"). Because the head's
lock orders every node's commits, a batch that finds its first position beyond the last one
this node published reads the events between (other nodes') and publishes them first: each
node's clients see the one log, in order, with no gap. Events other nodes commit while this
one is idle arrive by the Redis bus's notice (`bus.url`) or the housekeeping's poll
(`publish_foreign_events`).

A job's statements are storage's SQL in SQLite's spelling, translated (sql.py). A job run
off the loop (`write_sync`) runs in a thread whose statements hop to the loop's connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import asyncpg

from ..db import CALLER
from ..db_health import UNCHECKED, Integrity
from ..db_index_repair import IndexRepairs
from ..engine import ConstraintViolated, Dialect, Event, Params, Row, SyncTx, Tx
from ..errors import AppError
from ..write_queue import next_batch
from . import event_log
from .bus import RedisBus
from .event_log import Draft
from .postgres import Connection, connect_pool
from .sql import arguments, translate
from .writer import DURABLE, BeforeCommit

log = logging.getLogger(__name__)
T = TypeVar("T")


def _encode(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


class PgTx:
    """A write job's transaction on the batch's connection."""

    dialect: Dialect = "postgresql"

    def __init__(self, conn: Connection) -> None:
        # The batch's connection; once it has committed, the pool (work after a commit
        # may still read through the job's tx, as it may on SQLite's long-lived writer).
        self.conn: Connection | asyncpg.Pool[Any] = conn
        self.drafts: list[Draft] = []
        self.after_commit: list[Callable[[], Awaitable[None]]] = []

    def on_commit(self, fn: Callable[[], Awaitable[None]]) -> None:
        self.after_commit.append(fn)

    async def execute(self, sql: str, params: Params = ()) -> None:
        await self.fetchall(sql, params)

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        t = translate(sql)
        try:
            return list(await self.conn.fetch(t.sql, *arguments(t, params)))
        except asyncpg.IntegrityConstraintViolationError as e:
            raise ConstraintViolated(str(e)) from e

    async def emit(
        self,
        kind: str,
        room_id: int | None,
        data: dict[str, Any],
        now: int,
        *,
        user_id: int | None = None,
    ) -> None:
        self.drafts.append(Draft(kind, room_id, user_id, _encode(data), now))


class PgSyncTx:
    """A `write_sync` job's transaction: called from a worker thread, each statement runs
    on the event loop (the connection belongs to it) while the thread waits."""

    dialect: Dialect = "postgresql"

    def __init__(self, tx: PgTx, loop: asyncio.AbstractEventLoop) -> None:
        self._tx = tx
        self._loop = loop

    def _wait(self, coro: Awaitable[T]) -> T:
        return asyncio.run_coroutine_threadsafe(_awaited(coro), self._loop).result()

    def execute(self, sql: str, params: Params = ()) -> None:
        self._wait(self._tx.execute(sql, params))

    def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        return self._wait(self._tx.fetchone(sql, params))

    def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return self._wait(self._tx.fetchall(sql, params))

    def emit_encoded(
        self,
        kind: str,
        room_id: int | None,
        data_json: str,
        now: int,
        *,
        user_id: int | None = None,
    ) -> None:
        self._tx.drafts.append(Draft(kind, room_id, user_id, data_json, now))


async def _awaited(coro: Awaitable[T]) -> T:
    return await coro


@dataclass(eq=False)
class _Job(Generic[T]):
    fn: Callable[[Tx], Awaitable[T]] | None
    sync_fn: Callable[[SyncTx], T] | None
    future: asyncio.Future[T]
    caller: object | None = None
    drafts: list[Draft] = field(default_factory=list)
    after_commit: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    result: Any = None
    tx: PgTx | None = None


class PostgresDatabase:
    dialect: Dialect = "postgresql"

    def __init__(self, url: str, *, bus_url: str = "", max_connections: int = 10) -> None:
        self.url = url
        self.bus_url = bus_url
        self._max_connections = max_connections
        self._pool: asyncpg.Pool[Any] | None = None
        self._queue: asyncio.Queue[_Job[Any] | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._bus: RedisBus | None = None
        self._bus_task: asyncio.Task[None] | None = None
        self._catch_up: asyncio.Task[None] | None = None
        self.on_commit: Callable[[list[Event]], None] = lambda events: None
        self.before_publish: Callable[[list[object]], None] = lambda callers: None
        self.on_settled: Callable[[], None] = lambda: None
        self.published_seq = 0
        # PostgreSQL checks its pages itself (and `pg_amcheck` is the admin's): no check here.
        self.integrity: Integrity = UNCHECKED
        self._index_repairs = IndexRepairs()  # the search index is PostgreSQL's own

    async def open(self) -> None:
        """Connect (migrating the schema; nodes starting together migrate once)."""
        self._pool = await connect_pool(self.url, max_size=self._max_connections)
        self.published_seq = await event_log.head(self._pool)
        self._task = asyncio.create_task(self._write_loop(), name="postgres-writer")
        if self.bus_url:
            self._bus = RedisBus(self.bus_url, self._grown_elsewhere)
            self._bus_task = asyncio.create_task(self._bus.run(), name="redis-bus")

    async def close(self) -> None:
        for task in (self._bus_task, self._catch_up):
            if task is not None:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        if self._bus is not None:
            await self._bus.close()
        if self._task is not None:
            self._queue.put_nowait(None)  # queued writes finish first
            await self._task
            self._task = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @property
    def pool(self) -> asyncpg.Pool[Any]:
        assert self._pool is not None, "database is not open"
        return self._pool

    # -- reads ---------------------------------------------------------------------------

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        t = translate(sql)
        row: Row | None = await self.pool.fetchrow(t.sql, *arguments(t, params))
        return row

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        t = translate(sql)
        return list(await self.pool.fetch(t.sql, *arguments(t, params)))

    # -- health (SQLite's checks; PostgreSQL has its own tools) -----------------------------

    def start_integrity_check(self, budget_s: float, now_ms: int) -> None:
        # SQLite's check of the file has no counterpart to run here: PostgreSQL guards its
        # own pages (its WAL, and data checksums where initdb enabled them). What waits on a
        # sound database (the upload sweep) goes ahead.
        self.integrity = Integrity("ok", (), now_ms)

    async def integrity_settled(self) -> Integrity:
        return self.integrity

    async def empty_wal(self) -> None:
        """Deleted rows' space is marked free now, so new rows overwrite it (VACUUM). Unlike
        SQLite's secure_delete the bytes are not zeroed at once (docs/scaling.md)."""
        async with self.pool.acquire() as conn:
            await conn.execute("VACUUM messages, events, uploads")

    @property
    def search_index_repairs(self) -> IndexRepairs:
        return self._index_repairs

    @property
    def search_index_generation(self) -> int:
        return 0

    async def repaired_search_index(self, error: Exception, since: int) -> bool:
        return False

    # -- writes --------------------------------------------------------------------------

    async def write(self, fn: Callable[[Tx], Awaitable[T]]) -> T:
        """Run `fn` in the next group commit; its result once durable and published."""
        return await self._queued(_Job(fn, None, self._future()))

    async def write_sync(self, fn: Callable[[SyncTx], T]) -> T:
        """As `write`, `fn` called in a worker thread (db.SqliteDatabase.write_sync's jobs)."""
        return await self._queued(_Job(None, fn, self._future()))

    def _future(self) -> asyncio.Future[Any]:
        return asyncio.get_running_loop().create_future()

    async def _queued(self, job: _Job[T]) -> T:
        if self._task is None or self._task.done():
            raise RuntimeError("database writer is not running")
        job.caller = CALLER.get()
        self._queue.put_nowait(job)
        return await job.future

    async def publish_foreign_events(self) -> None:
        """Publish what other nodes committed since this one last published: through the
        writer, so in order with this node's own batches."""
        if await event_log.head(self.pool) > self.published_seq:
            await self.write(_nothing)

    def _grown_elsewhere(self, head: int | None) -> None:
        # The bus's notice: catch up soon, one catch-up at a time (a burst is one).
        if head is not None and head <= self.published_seq:
            return
        if self._catch_up is None or self._catch_up.done():
            self._catch_up = asyncio.create_task(self._catch_up_now(), name="catch-up")

    async def _catch_up_now(self) -> None:
        try:
            await self.publish_foreign_events()
        except Exception:
            log.exception("catching up with other nodes' events failed")

    async def _write_loop(self) -> None:
        stopping = False
        while not stopping:
            batch, stopping = await next_batch(self._queue)
            if batch:
                await self._run_batch(batch)

    async def _run_batch(self, batch: list[_Job[Any]]) -> None:
        try:
            events = await self._commit(batch)
        except BeforeCommit as failed:
            if len(batch) > 1:  # run each alone: only the failing one sees its error
                for job in batch:
                    job.drafts, job.after_commit, job.result, job.tx = [], [], None, None
                    await self._run_batch([job])
            else:
                _fail(batch[0], failed.error)
            return
        except Exception as e:  # the connection or the commit failed: outcome unknown
            for job in batch:
                _fail(job, e)
            return
        if events:
            self.published_seq = events[-1].seq
            try:
                self.before_publish([job.caller for job in batch if job.caller is not None])
                self.on_commit(events)
            except Exception:
                log.exception("publishing committed events failed")
            if self._bus is not None:
                self._bus.announce(events[-1].seq)
        for job in batch:
            if not job.future.done():
                job.future.set_result(job.result)
        if events:
            try:
                self.on_settled()
            except Exception:
                log.exception("releasing the callers' sockets failed")
        for job in batch:
            for fn in job.after_commit:
                try:
                    await fn()
                except Exception:
                    log.exception("work after a commit failed")

    async def _commit(self, batch: list[_Job[Any]]) -> list[Event]:
        """Run the batch in one transaction; the events to publish, this node's earlier
        unpublished ones (other nodes') first."""
        loop = asyncio.get_running_loop()
        catching_up = any(job.fn is _nothing for job in batch)
        async with self.pool.acquire() as conn:
            transaction = conn.transaction(isolation="read_committed")
            await transaction.start()
            try:
                # First: the head's lock, to the commit (cluster/writer.py says why: ids in
                # the log's order on every node, and no deadlock between nodes' batches).
                # Not for a batch that only catches up: it reads a committed prefix.
                if not all(job.fn is _nothing for job in batch):
                    await event_log.hold_head(conn)
                for job in batch:
                    tx = PgTx(conn)
                    if job.fn is not None:
                        job.result = await job.fn(tx)
                    else:
                        assert job.sync_fn is not None
                        job.result = await asyncio.to_thread(job.sync_fn, PgSyncTx(tx, loop))
                    job.drafts, job.after_commit, job.tx = tx.drafts, tx.after_commit, tx
                await conn.execute(DURABLE)  # also fails if a job caught a failed statement
                drafts = [d for job in batch for d in job.drafts]
                events = await event_log.emit_many(conn, drafts)
                behind = events[0].seq > self.published_seq + 1 if events else catching_up
                if behind:
                    before = events[0].seq if events else None
                    events = await event_log.between(conn, self.published_seq, before) + events
            except Exception as e:
                with contextlib.suppress(Exception):
                    await transaction.rollback()
                if isinstance(e, asyncpg.InFailedSQLTransactionError):
                    e = RuntimeError("a statement failed inside a write job; nothing was written")
                raise BeforeCommit(e) from e
            await transaction.commit()
        for job in batch:
            if job.tx is not None:
                job.tx.conn = self.pool
        return events


async def _nothing(tx: Tx) -> None:
    return None


def _fail(job: _Job[Any], e: Exception) -> None:
    if not isinstance(e, AppError):
        log.error("write job failed", exc_info=e)
    if not job.future.done():
        job.future.set_exception(e)
