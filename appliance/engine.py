"""What the chat asks of a database engine: rows, a write job's transaction, the database.

SQLite (`db.Database`, the appliance's) and PostgreSQL (`cluster.database`, several nodes)
both give these. Storage writes its SQL once, in SQLite's spelling with `?` or `:name`
parameters; the PostgreSQL side translates the parameters, and the few statements that
differ ask `dialect` (storage/dialect.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

if TYPE_CHECKING:
    from .db_health import Integrity
    from .db_index_repair import IndexRepairs

T = TypeVar("T")
Params = Iterable[Any] | Mapping[str, Any]
Dialect = Literal["sqlite", "postgresql"]


class ConstraintViolated(sqlite3.IntegrityError):
    """PostgreSQL refused a statement on a constraint (a duplicate, say). A subclass of
    SQLite's error, so storage catches either engine's one way (`sqlite3.IntegrityError`)."""


@dataclass(frozen=True, slots=True)
class Event:
    """One entry of the event log: `seq` is its position, gap-free and in commit order."""

    seq: int
    kind: str
    room_id: int | None
    user_id: int | None
    data_json: str
    created_at: int


class Row(Protocol):
    """A result row: by position or by column name (sqlite3.Row, asyncpg.Record)."""

    def __getitem__(self, key: Any, /) -> Any: ...

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[Any]: ...

    def keys(self) -> Iterable[str]: ...


class Reader(Protocol):
    """The database, or a write job's transaction: what storage reads through."""

    @property
    def dialect(self) -> Dialect: ...

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None: ...

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]: ...


class Tx(Reader, Protocol):
    """A write job's transaction (`write`): its statements, its events, what runs after."""

    async def execute(self, sql: str, params: Params = ()) -> None: ...

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

    def on_commit(self, fn: Callable[[], Awaitable[None]]) -> None:
        """Run `fn` once this transaction is durable (never if it rolls back): file
        removals, which cannot be undone, wait for the commit."""


class SyncTx(Protocol):
    """A write job run off the event loop (`write_sync`): plain calls."""

    @property
    def dialect(self) -> Dialect: ...

    def execute(self, sql: str, params: Params = ()) -> None: ...

    def fetchone(self, sql: str, params: Params = ()) -> Row | None: ...

    def fetchall(self, sql: str, params: Params = ()) -> list[Row]: ...

    def emit_encoded(
        self,
        kind: str,
        room_id: int | None,
        data_json: str,
        now: int,
        *,
        user_id: int | None = None,
    ) -> None:
        """As `Tx.emit`, with the data already encoded (compact JSON)."""


class Database(Reader, Protocol):
    """The database a server runs on: reads, group-committed writes, and the published
    events (handed to `on_commit` in order once durable, with the batch's callers told to
    `before_publish` first and `on_settled` once they are answered)."""

    on_commit: Callable[[list[Event]], None]
    before_publish: Callable[[list[object]], None]
    on_settled: Callable[[], None]
    published_seq: int
    integrity: Integrity

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def write(self, fn: Callable[[Tx], Awaitable[T]]) -> T: ...

    async def write_sync(self, fn: Callable[[SyncTx], T]) -> T: ...

    async def publish_foreign_events(self) -> None:
        """Publish events committed elsewhere (another process, another node)."""

    def start_integrity_check(self, budget_s: float, now_ms: int) -> None: ...

    async def integrity_settled(self) -> Integrity: ...

    async def empty_wal(self) -> None:
        """Make deleted text unreadable on disk now (chat/redaction.py)."""

    @property
    def search_index_repairs(self) -> IndexRepairs: ...

    @property
    def search_index_generation(self) -> int: ...

    async def repaired_search_index(self, error: Exception, since: int) -> bool: ...
