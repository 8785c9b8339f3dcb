"""One node's writer on PostgreSQL: the jobs queued meanwhile share one transaction (a group
commit, as `db.Database` does on SQLite), and their events take their positions together,
last, just before the COMMIT.

Why a writer per node rather than a transaction per request: positions come from the
log's one head row (`event_log`), whose lock each batch takes first and holds to its
commit, WAL flush included, so that the ids its rows take follow the log's order too (a
message's id, by which a timeline is sorted, rises with its event's position on every
node). A transaction per request would queue every request of every node on that row, one
flush each; here each node holds the row once per batch, and a busy node's batches grow
instead of its queue (`bench/cluster.py` measures both).

A job is `async fn(tx) -> result`; it may read and write through `tx.conn` and add events
with `tx.emit`. A database error a job means to survive (a duplicate, say) must be caught
inside a savepoint (`async with tx.conn.transaction():`), since on PostgreSQL a failed
statement aborts the whole transaction; if one was caught outside, the COMMIT comes back as
a ROLLBACK and the batch is treated as failed. If a job raises, the batch is rolled back
and each job runs again alone, so only the failing one sees its error (the SQLite
writer's rule). If the commit itself fails (the connection lost), the jobs get that error
and may or may not have been committed: a caller retries with the same idempotency key (a
message's `client_id`), as a client does after a lost reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import asyncpg

from ..db import Event
from ..write_queue import next_batch
from . import event_log
from .event_log import Draft
from .postgres import Connection

log = logging.getLogger(__name__)

T = TypeVar("T")
Append = Callable[[Connection, Sequence[Draft]], Awaitable[list[Event]]]
Begin = Callable[[Connection], Awaitable[None]]
OnCommit = Callable[[list[Event]], Awaitable[None]]


class WriterTx:
    """What a job gets: the batch's connection, and its own events."""

    __slots__ = ("conn", "drafts")

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.drafts: list[Draft] = []

    def emit(self, draft: Draft) -> None:
        """Add an event; its position is taken with the batch's, at the commit."""
        self.drafts.append(draft)


@dataclass(eq=False)
class _Job(Generic[T]):
    fn: Callable[[WriterTx], Awaitable[T]]
    future: asyncio.Future[tuple[T, list[Event]]]
    result: Any = None
    drafts: list[Draft] = field(default_factory=list)


async def _no_commit_hook(events: list[Event]) -> None:
    return None


class LogWriter:
    def __init__(
        self,
        pool: asyncpg.Pool[Any],
        *,
        on_commit: OnCommit = _no_commit_hook,
        append: Append = event_log.emit_many,
        begin: Begin = event_log.hold_head,
        max_batch: int = 256,
    ) -> None:
        """`on_commit(events)` runs after each commit with its events (the relay announces
        them); `append` takes the positions (the ordered log; the benchmark swaps it, and
        `begin`, which runs first in each transaction)."""
        self._pool = pool
        self._on_commit = on_commit
        self._append = append
        self._begin = begin
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Job[Any] | None] = asyncio.Queue()  # None: stop
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="postgres writer")

    async def close(self) -> None:
        """Stop once what was asked before is written (as the SQLite writer does). Not by
        cancelling: a client library that swallows a cancellation mid-batch (redis-py's
        did, in `on_commit`) would leave the writer waiting for work forever."""
        self._closing = True
        if self._task and not self._task.done():
            self._queue.put_nowait(None)
            await self._task

    async def write(self, fn: Callable[[WriterTx], Awaitable[T]]) -> tuple[T, list[Event]]:
        """Run `fn` in the next batch; its result and its events once committed."""
        if self._task is None or self._task.done() or self._closing:
            raise RuntimeError("the writer is not running")
        future: asyncio.Future[tuple[T, list[Event]]] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Job(fn, future))
        return await future

    async def _loop(self) -> None:
        stopping = False
        while not stopping:
            batch, stopping = await next_batch(self._queue, self._max_batch)
            if batch:
                try:
                    await self._run(batch)
                except asyncio.CancelledError:
                    stopped = RuntimeError("the writer stopped")
                    for job in batch:
                        _fail(job, stopped)
                    while not self._queue.empty():  # nobody will run these: say so
                        if (queued := self._queue.get_nowait()) is not None:
                            _fail(queued, stopped)
                    raise

    async def _run(self, batch: list[_Job[Any]]) -> None:
        try:
            events = await self._commit(batch)
        except BeforeCommit as failed:  # rolled back: nothing of the batch was written
            if len(batch) > 1:
                for job in batch:
                    job.drafts = []
                    await self._run([job])
            else:
                _fail(batch[0], failed.error)
            return
        except Exception as e:  # no connection, or the commit failed: outcome unknown
            for job in batch:
                _fail(job, e)
            return
        offset = 0
        for job in batch:
            mine = events[offset : offset + len(job.drafts)]
            offset += len(job.drafts)
            if not job.future.done():
                job.future.set_result((job.result, mine))
        if events:
            try:
                await self._on_commit(events)
            except Exception:
                log.exception("announcing committed events failed")

    async def _commit(self, batch: list[_Job[Any]]) -> list[Event]:
        async with self._pool.acquire() as conn:
            # READ COMMITTED whatever the server's default: a writer waiting on the head row
            # must read the row its predecessor committed (docs/architecture.md).
            transaction = conn.transaction(isolation="read_committed")
            await transaction.start()
            try:
                # First: the head's lock, to the commit. One node's batch at a time then
                # writes, so ids follow the log's order and batches never deadlock.
                await self._begin(conn)
                for job in batch:
                    tx = WriterTx(conn)
                    job.result = await job.fn(tx)
                    job.drafts = tx.drafts
                # Durable before visible, whatever the server's default: else a follower
                # could deliver an event a crash then takes back, its position given again.
                # Also the check that no job caught a failed statement: PostgreSQL aborts
                # the transaction at one and would answer COMMIT with a silent ROLLBACK.
                await conn.execute(DURABLE)
                events = await self._append(conn, [d for job in batch for d in job.drafts])
            except Exception as e:
                with contextlib.suppress(Exception):
                    await transaction.rollback()
                if isinstance(e, asyncpg.InFailedSQLTransactionError):
                    e = RuntimeError(
                        "a statement failed inside the job, so nothing was written (catch a"
                        " database error only inside a savepoint: tx.conn.transaction())"
                    )
                raise BeforeCommit(e) from e
            await transaction.commit()
            return events


DURABLE = "SET LOCAL synchronous_commit TO on"


class BeforeCommit(Exception):
    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def _fail(job: _Job[Any], error: Exception) -> None:
    if not job.future.done():
        job.future.set_exception(error)
