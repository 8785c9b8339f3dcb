"""The server's recent log lines in memory, for the admin page (`GET /api/admin/logs`).

A bounded ring: a logging handler on the root logger keeps the newest `capacity` records
while the server runs; older ones fall off (the journal keeps everything). Nothing is
redacted, because nothing secret is logged: passwords, session tokens, invite codes, reset
links and the claim code never reach a log call (the server logs paths, never query
strings or bodies); an unexpected exception's traceback is kept, as the journal has it.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from aiohttp import web

DEFAULT_CAPACITY = 2000
MAX_MESSAGE_CHARS = 8000
# Libraries chatty at INFO (aioice logs every ICE candidate pair of every call, the echo
# bot's too): only their warnings reach the admin page; the journal still has the rest.
QUIET_LOGGERS = {"aioice": logging.WARNING, "aiortc": logging.WARNING}
_FORMATTER = logging.Formatter()


@dataclass(frozen=True, slots=True)
class LogLine:
    time: int  # ms since the epoch
    level: str
    logger: str
    message: str

    def to_api(self) -> dict[str, object]:
        return {
            "time": self.time,
            "level": self.level,
            "logger": self.logger,
            "message": self.message,
        }


class LogBuffer(logging.Handler):
    """Keeps the newest `capacity` records. Safe from any thread: `emit` runs under the
    handler's lock, and `recent` copies the ring in one step (`deque.copy`)."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY, level: int = logging.INFO) -> None:
        super().__init__(level)
        self._lines: deque[LogLine] = deque(maxlen=capacity)

    def filter(self, record: logging.LogRecord) -> bool:
        floor = QUIET_LOGGERS.get(record.name.partition(".")[0])
        if floor is not None and record.levelno < floor:
            return False
        return super().filter(record)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.exc_info:
                message += "\n" + _FORMATTER.formatException(record.exc_info)
            elif record.exc_text:
                message += "\n" + record.exc_text
            if record.stack_info:
                message += "\n" + record.stack_info
            if len(message) > MAX_MESSAGE_CHARS:
                message = message[:MAX_MESSAGE_CHARS] + " …(cut)"
            line = LogLine(int(record.created * 1000), record.levelname, record.name, message)
            self._lines.append(line)
        except Exception:
            self.handleError(record)

    def recent(self, limit: int) -> list[LogLine]:
        """The newest `limit` lines, oldest first."""
        lines = self._lines.copy()
        while len(lines) > limit:
            lines.popleft()
        return list(lines)


def capture(
    buffer: LogBuffer, logger: logging.Logger | None = None
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup_ctx: `buffer` listens to `logger` (the root logger) while the app runs.
    Append it first, so it hears the database opening and any restore applied at start."""
    target = logger if logger is not None else logging.getLogger()

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        target.addHandler(buffer)
        try:
            yield
        finally:
            target.removeHandler(buffer)

    return ctx
