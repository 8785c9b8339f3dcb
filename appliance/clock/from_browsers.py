"""The time from the office's browsers, for a Pi that cannot reach an NTP server.

Without internet the clock never syncs, and after every power cut it restarts at the time
fake-hwclock last saved, so messages get wrong times. The nearest source of the real time
is the devices people use. The rule (docs/operations.md, "The clock"):

- only while the clock is not synchronised (system/clock.py) and `clock.from_browsers` is on;
- only from a signed-in admin, or from the setup wizard after the claim code was accepted;
- only forward, and only when the device is behind by more than BEHIND_MS (a browser's
  own clock may be off by a little; a small difference is not worth a step);
- at most one setting per SET_EVERY_S, one at a time;
- the root helper checks again (synchronised? backwards?) before it sets anything.

After a setting the step is corrected at once (clock/steps.py): nobody is logged out.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..privileged import client as helper
from ..system.clock import TIMESYNCD_FLAG, timesyncd_synchronized
from .steps import ClockSteps, describe

log = logging.getLogger(__name__)

BEHIND_MS = 120_000
SET_EVERY_S = 60.0
HELPER_TIMEOUT_S = 30.0


class BrowserClock:
    def __init__(
        self,
        enabled: bool,
        steps: ClockSteps,
        clock: Callable[[], float],
        *,
        helper_socket: Path = helper.SOCKET_PATH,
        synced_flag: Path = TIMESYNCD_FLAG,
        mono: Callable[[], float] = time.monotonic,
    ) -> None:
        self.enabled = enabled
        self.steps = steps
        self.clock = clock
        self.helper_socket = helper_socket
        self.synced_flag = synced_flag
        self.mono = mono
        self._last_set: float | None = None
        self._lock = asyncio.Lock()

    async def synchronized(self) -> bool:
        return await asyncio.to_thread(timesyncd_synchronized, self.synced_flag)

    async def status(self) -> dict[str, Any]:
        """For the admin's device page."""
        return {
            "synchronized": await self.synchronized(),
            "from_browsers": self.enabled,
            "now_ms": int(self.clock() * 1000),
        }

    async def report(self, browser_ms: int) -> dict[str, Any]:
        """A trusted browser's Date.now(): set the clock from it if the rule allows."""
        received = self.mono()
        device_ms = int(self.clock() * 1000)
        ahead_ms = browser_ms - device_ms  # how far the browser is ahead of the device
        synced = await self.synchronized()
        answer: dict[str, Any] = {
            "synchronized": synced,
            "from_browsers": self.enabled,
            "browser_ahead_ms": ahead_ms,
            "set": False,
        }
        if not self.enabled:
            return {**answer, "reason": "off"}
        if synced:
            return {**answer, "reason": "synchronized"}
        if ahead_ms <= BEHIND_MS:  # close enough, or the browser is behind: never back
            return {**answer, "reason": "close" if ahead_ms >= -BEHIND_MS else "device_ahead"}
        if self._lock.locked() or (
            self._last_set is not None and received - self._last_set < SET_EVERY_S
        ):
            return {**answer, "reason": "too_soon"}
        async with self._lock:
            # The browser's time as of now, not as of when it arrived.
            target = browser_ms + int((self.mono() - received) * 1000)
            try:
                await helper.call(
                    "set-clock",
                    [str(target)],
                    socket_path=self.helper_socket,
                    timeout_s=HELPER_TIMEOUT_S,
                )
            except helper.HelperError as e:
                log.warning("could not set the clock from a browser: %s", e)
                return {**answer, "reason": e.code}
            self._last_set = self.mono()
            log.warning("clock set from a browser: it was behind by %s", describe(ahead_ms / 1000))
        await self.steps.settle()  # deadlines move now, before anything judges them
        return {**answer, "set": True, "reason": "set"}
