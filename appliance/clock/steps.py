"""Keep what was computed from the wall clock true when the clock steps (clock/watch.py).

On a step of D, every stored deadline written with the old clock moves by D (one
transaction, storage/clock_shift.py) and every in-memory one by its listener, so a
session made at the image's build date keeps its real remaining lifetime when NTP (or an
admin's browser) corrects the clock by months, instead of everyone being logged out.

`settle()` is cheap when nothing stepped (two clock reads): the maintenance loop calls it
before it purges anything, and a session that looks expired calls it before saying so.

Not every old row was written with a wrong clock. A Pi with internet that was off for two
weeks boots at its shutdown time and NTP then steps it two weeks ahead: rows from before
the shutdown were right, and moving them would lengthen every session by the downtime.
So the maintenance loop vouches for the clock while NTP has synchronised it, and rows
stamped up to the last vouched-for time (kept in the database across restarts) stay.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta

from ..db import Database, Tx
from ..storage import clock_shift
from .watch import ClockWatch, Step

log = logging.getLogger(__name__)
SAVE_TRUST_EVERY_S = 3600.0  # an SD card is not written every tick; a power cut loses < 1 h


class ClockSteps:
    def __init__(self, db: Database, watch: ClockWatch) -> None:
        self.db = db
        self.watch = watch
        # In-memory holders of wall-clock deadlines (call ring timers, wizard sessions):
        # each is called with the step in seconds.
        self.listeners: list[Callable[[float], None]] = []
        self.last: Step | None = None
        self.trusted_until_ms = 0  # stamps up to here were taken with a synchronised clock
        self._saved_trust_ms = 0
        self._lock = asyncio.Lock()

    async def load(self) -> None:
        saved = await clock_shift.trusted_until(self.db)
        self._saved_trust_ms = saved
        # Rows of this boot are never vouched for by an earlier one: after a power cut the
        # clock may restart before the last vouched-for time (fake-hwclock saves hourly).
        self.trusted_until_ms = min(saved, int(self.watch.wall_at_boot() * 1000))

    async def save(self) -> None:
        """Keep the vouched-for time (hourly, and when the server stops)."""
        trusted = self.trusted_until_ms
        if trusted == self._saved_trust_ms:
            return

        async def job(tx: Tx) -> None:
            await clock_shift.set_trusted_until(tx, trusted)

        await self.db.write(job)
        self._saved_trust_ms = trusted

    async def settle(self, *, synchronized: bool = False) -> Step | None:
        """Look at the clock; if it stepped, move every deadline. The step, or None.

        `synchronized`: NTP had synchronised the clock before this look (timesyncd sets
        the clock before it says so), so if it did not step, it was right up to now."""
        async with self._lock:  # one look and its correction at a time: never twice
            before = self.watch.reference()
            step = self.watch.look()
            if step is None:
                if synchronized:
                    await self._vouch(int(self.watch.reference()[0] * 1000))
                return None
            trusted = self.trusted_until_ms

            async def job(tx: Tx) -> dict[str, int]:
                return await clock_shift.shift_deadlines(
                    tx, step.delta_ms, step.new_clock_from_ms(), step.new_clock_until_ms(), trusted
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
            if step.delta_s < 0:
                # Back: "trusted until" was read on a clock that ran ahead; stamps after
                # the new time cannot be told apart any more.
                self.trusted_until_ms = min(self.trusted_until_ms, int(step.wall_now * 1000))
            log.warning(
                "wall clock stepped by %s; moved the deadlines of %s",
                describe(step.delta_s),
                ", ".join(f"{n} {table}" for table, n in moved.items()),
            )
            return step

    async def _vouch(self, now_ms: int) -> None:
        self.trusted_until_ms = max(self.trusted_until_ms, now_ms)
        if now_ms - self._saved_trust_ms >= SAVE_TRUST_EVERY_S * 1000:
            await self.save()


def describe(delta_s: float) -> str:
    """`+90 days, 0:00:00 (+7776000.0 s)`: readable in a log, exact for a script."""
    sign = "+" if delta_s >= 0 else "-"
    return f"{sign}{timedelta(seconds=round(abs(delta_s)))} ({delta_s:+.1f} s)"
