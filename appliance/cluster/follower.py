"""One node's reader of the shared event log: every event once, in order, whatever it missed.

The bus (`bus.py`) only says "the log has grown"; it can lose that news (a restart, a
network blip, a slow subscriber dropped). The follower never trusts it for content: each
wake reads the log after the last position it delivered, and the log's prefix guarantee
(`event_log`) makes that read gap-free. A timer wakes it as well, so a lost notice costs
at most `poll_interval_s` of delay, never an event. The node's own commits wake it too:
delivering them straight away could overtake another node's smaller, already committed
position that this node has not read yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from ..db import Event

log = logging.getLogger(__name__)

ReadAfter = Callable[[int, int], Awaitable[list[Event]]]  # (after seq, limit) -> events
Deliver = Callable[[list[Event]], None]  # a run of events in seq order, each once

PAGE = 500  # events read at a time
RETRY_S = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0)  # between reads that failed (the database away)


class LogFollower:
    def __init__(
        self, read_after: ReadAfter, deliver: Deliver, *, start: int, poll_interval_s: float
    ) -> None:
        """Deliver every event after `start` (the log's head when the node came up, or a
        position it had reached before) and later ones as they commit."""
        self._read_after = read_after
        self._deliver = deliver
        self._poll_interval_s = poll_interval_s
        self.last_seq = start
        self._woken = asyncio.Event()
        self._progress = asyncio.Condition()

    def wake(self, head: int | None = None) -> None:
        """The log has grown (to `head`, when the news says): read it. Cheap; from any
        callback on the loop. News of a position already delivered is dropped."""
        if head is None or head > self.last_seq:
            self._woken.set()

    async def wait_for(self, seq: int) -> None:
        """Until every event up to `seq` has been delivered."""
        async with self._progress:
            await self._progress.wait_for(lambda: self.last_seq >= seq)

    async def run(self) -> None:
        """Follow until cancelled."""
        failures = 0
        while True:
            # A timeout is the timer's look: a bus notice may have been lost.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._woken.wait(), self._poll_interval_s)
            self._woken.clear()
            try:
                await self._catch_up()
                failures = 0
            except (LogGap, DeliveryFailed):
                raise
            except Exception as e:  # the database away or restarting: it is read again
                delay = RETRY_S[min(failures, len(RETRY_S) - 1)]
                failures += 1
                log.warning("reading the event log failed (%s); again in %gs", e, delay)
                await asyncio.sleep(delay)
                self._woken.set()  # what woke us is still unread

    async def _catch_up(self) -> None:
        while True:
            events = await self._read_after(self.last_seq, PAGE)
            if events:
                self._check_contiguous(events)
                try:
                    self._deliver(events)
                except Exception as e:
                    # Not a read failure to retry from further on: these events would be lost.
                    raise DeliveryFailed(f"delivering {len(events)} events failed: {e}") from e
                self.last_seq = events[-1].seq
                async with self._progress:
                    self._progress.notify_all()
            if len(events) < PAGE:
                return

    def _check_contiguous(self, events: list[Event]) -> None:
        # The log has no gaps (event_log): a hole means the guarantee is broken, which must
        # be loud, not a skipped event.
        expected = self.last_seq + 1
        for event in events:
            if event.seq != expected:
                raise LogGap(f"the event log jumped from {expected - 1} to {event.seq}")
            expected += 1


class LogGap(RuntimeError):
    pass


class DeliveryFailed(RuntimeError):
    pass
