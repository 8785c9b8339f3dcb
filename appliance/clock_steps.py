"""Keep what was computed from the wall clock true when the clock steps (clock_watch.py).

On a step of D, every stored deadline written with the old clock moves by D (one
transaction, storage/clock_shift.py) and every in-memory one by its listener, so a
session made at the image's build date keeps its real remaining lifetime when NTP (or an
admin's browser) corrects the clock by months, instead of everyone being logged out.

`settle()` is cheap when nothing stepped (two clock reads): the maintenance loop calls it
before it purges anything, and a session that looks expired calls it before saying so.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta

from .clock_watch import ClockWatch, Step
from .db import Database, Tx
from .storage.clock_shift import shift_deadlines

log = logging.getLogger(__name__)


class ClockSteps:
    def __init__(self, db: Database, watch: ClockWatch) -> None:
        self.db = db
        self.watch = watch
        # In-memory holders of wall-clock deadlines (call ring timers, wizard sessions):
        # each is called with the step in seconds.
        self.listeners: list[Callable[[float], None]] = []
        self.last: Step | None = None
        self._lock = asyncio.Lock()

    async def settle(self) -> Step | None:
        """Look at the clock; if it stepped, move every deadline. The step, or None."""
        async with self._lock:  # one look and its correction at a time: never twice
            before = self.watch.reference()
            step = self.watch.look()
            if step is None:
                return None

            async def job(tx: Tx) -> dict[str, int]:
                return await shift_deadlines(
                    tx, step.delta_ms, step.new_clock_from_ms(), step.new_clock_until_ms()
                )

            try:
                moved = await self.db.write(job)
            except BaseException:
                self.watch.restore(before)  # the next look sees the same step again
                raise
            for listener in self.listeners:
                try:
                    listener(step.delta_s)
                except Exception:
                    log.exception("moving in-memory deadlines after a clock step failed")
            self.last = step
            log.warning(
                "wall clock stepped by %s; moved the deadlines of %s",
                describe(step.delta_s),
                ", ".join(f"{n} {table}" for table, n in moved.items()),
            )
            return step


def describe(delta_s: float) -> str:
    """`+90 days, 0:00:00 (+7776000.0 s)`: readable in a log, exact for a script."""
    sign = "+" if delta_s >= 0 else "-"
    return f"{sign}{timedelta(seconds=round(abs(delta_s)))} ({delta_s:+.1f} s)"
