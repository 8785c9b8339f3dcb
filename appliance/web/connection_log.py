"""One log line per interval, with a count, however often something happens: a flood of
refused connections or failed accepts must not become a flood of log lines (a Pi's card)."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

log = logging.getLogger("appliance.web.connections")
LOG_EVERY_S = 60.0


class RateLimitedLog:
    """One log line per interval however often something happens: the first at once, then
    one with the count of everything since, and the addresses seen most."""

    def __init__(
        self, what: str, *, every_s: float = LOG_EVERY_S, level: int = logging.WARNING
    ) -> None:
        self.what = what
        self.every_s = every_s
        self.level = level
        self.total = 0
        self._pending: Counter[str] = Counter()
        self._flush_at: asyncio.TimerHandle | None = None

    def note(self, key: str = "") -> None:
        self.total += 1
        self._pending[key] += 1
        if self._flush_at is None:
            self._flush()

    def _flush(self) -> None:
        self._flush_at = None
        if not self._pending:
            return
        count = sum(self._pending.values())
        top = ", ".join(f"{k} x{n}" for k, n in self._pending.most_common(3) if k)
        detail = f" ({top})" if top else ""
        log.log(self.level, "%s: %d in the last %.0f s%s", self.what, count, self.every_s, detail)
        self._pending.clear()
        self._flush_at = asyncio.get_running_loop().call_later(self.every_s, self._flush)

    def close(self) -> None:
        if self._flush_at is not None:
            self._flush_at.cancel()
            self._flush_at = None
