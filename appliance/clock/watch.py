"""Notice when the wall clock steps, by comparing it with the boot clock between looks.

A Raspberry Pi has no clock battery: it starts at the time fake-hwclock saved (at first
boot, the image's build date) and jumps when NTP first syncs, or when the device takes the
time from an admin's browser (clock/from_browsers.py). Anything computed from the old wall
clock (a session's expiry, an invite's deadline) is then off by the jump. The boot clock
(CLOCK_BOOTTIME) only ever runs forward at the real rate, so between two looks the wall
clock should move exactly as far; a difference larger than a threshold is a step.
Slewing (NTP nudging the rate by at most 0.05 %) never adds up to one between two looks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

MIN_STEP_S = 60.0


def boot_clock() -> float:
    """Seconds since boot, including any suspend; never steps."""
    return time.clock_gettime(time.CLOCK_BOOTTIME)


@dataclass(frozen=True)
class Step:
    """The wall clock jumped by `delta_s` (positive: forward) since the previous look."""

    delta_s: float
    wall_now: float  # the wall clock when the step was noticed (the new clock)
    since_s: float  # real seconds since the previous look: stamps taken in that window
    # may come from either clock

    @property
    def delta_ms(self) -> int:
        return round(self.delta_s * 1000)

    def new_clock_from_ms(self, margin_s: float = 1.0) -> int:
        """Stamps (ms) from here up to `new_clock_until_ms` were taken with the new clock."""
        return int((self.wall_now - self.since_s - margin_s) * 1000)

    def new_clock_until_ms(self, margin_s: float = 1.0) -> int:
        return int((self.wall_now + margin_s) * 1000)


class ClockWatch:
    """`look()` returns the step since the previous look, or None. Clocks are injected."""

    def __init__(
        self,
        wall: Callable[[], float] = time.time,
        mono: Callable[[], float] = boot_clock,
        *,
        threshold_s: float = MIN_STEP_S,
    ) -> None:
        self._wall = wall
        self._mono = mono
        self.threshold_s = threshold_s
        self._last_wall = wall()
        self._last_mono = mono()

    def wall_at_boot(self) -> float:
        """What the wall clock read at boot, if it has not stepped since."""
        return self._wall() - self._mono()

    def reference(self) -> tuple[float, float]:
        """The readings the next look compares with (to `restore` if acting on it failed)."""
        return self._last_wall, self._last_mono

    def restore(self, reference: tuple[float, float]) -> None:
        self._last_wall, self._last_mono = reference

    def look(self) -> Step | None:
        wall, mono = self._wall(), self._mono()
        since = mono - self._last_mono
        delta = (wall - self._last_wall) - since
        self._last_wall, self._last_mono = wall, mono
        if abs(delta) < self.threshold_s:
            return None
        return Step(delta, wall, since)
