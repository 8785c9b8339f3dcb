"""One node's link to the shared event log: its own commits announced on the bus, and every
node's events delivered to it once, in order (the follower), whatever the bus lost."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import asyncpg

from ..db import Event
from . import event_log
from .bus import RedisBus
from .follower import Deliver, LogFollower

log = logging.getLogger(__name__)

POLL_INTERVAL_S = 5.0  # the follower's own look at the log, should bus notices be lost


class EventRelay:
    def __init__(
        self,
        pool: asyncpg.Pool[Any],
        bus_url: str,
        deliver: Deliver,
        *,
        poll_interval_s: float = POLL_INTERVAL_S,
    ) -> None:
        self._pool = pool
        self._bus_url = bus_url
        self._deliver = deliver
        self._poll_interval_s = poll_interval_s
        self._tasks: list[asyncio.Task[None]] = []
        self.follower: LogFollower | None = None
        self.bus: RedisBus | None = None

    async def start(self, after: int | None = None) -> None:
        """Deliver every event after `after` (default: the log's head now), and listen."""
        start = await event_log.head(self._pool) if after is None else after
        self.follower = LogFollower(
            self._read_after, self._deliver, start=start, poll_interval_s=self._poll_interval_s
        )
        self.bus = RedisBus(self._bus_url, self.follower.wake)
        self._tasks = [
            asyncio.create_task(self.follower.run(), name="event-log follower"),
            asyncio.create_task(self.bus.run(), name="event-log bus"),
        ]
        for task in self._tasks:
            task.add_done_callback(_stopped)

    async def committed(self, events: list[Event]) -> None:
        """After a commit of this node's: deliver (in the log's order) and tell the others.
        Never waits on the bus (it runs in the writer's path)."""
        if events and self.follower and self.bus:
            self.follower.wake()
            self.bus.announce(max(e.seq for e in events))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.bus:
            await self.bus.close()

    async def _read_after(self, seq: int, limit: int) -> list[Event]:
        return await event_log.after(self._pool, seq, limit)


def _stopped(task: asyncio.Task[None]) -> None:
    # Both run until cancelled: any other end means this node no longer delivers. Loud.
    if not task.cancelled() and task.exception() is not None:
        log.critical("%s stopped: this node delivers no more events", task.get_name(),
                     exc_info=task.exception())  # fmt: skip
