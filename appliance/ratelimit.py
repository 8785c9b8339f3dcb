"""In-memory rate limits: token buckets for sends, failure windows for logins.

Time is passed in (`now`, seconds) so tests can advance it instead of sleeping. It is the
wall clock, which may step (clock_steps.py): a step back must not lock anyone out for as long.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from typing import Generic, TypeVar

K = TypeVar("K")


class TokenBuckets(Generic[K]):
    """`rate` tokens a second up to `burst`, one bucket per key (bounded key count)."""

    def __init__(self, rate: float, burst: int, *, max_keys: int = 100_000) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.max_keys = max_keys
        self._buckets: OrderedDict[K, tuple[float, float]] = OrderedDict()

    def take(self, key: K, now: float) -> float:
        """Take a token; return 0 when allowed, else the seconds until one is available."""
        tokens, stamp = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + max(0.0, now - stamp) * self.rate)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.rate
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return wait


class FailureWindow(Generic[K]):
    """Counts failures per key in a sliding window; `blocked` once `limit` is reached."""

    def __init__(self, limit: int, window_s: float, *, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.window_s = window_s
        self.max_keys = max_keys
        self._failures: OrderedDict[K, deque[float]] = OrderedDict()

    def retry_after(self, key: K, now: float) -> float:
        """0 when the key may try again, else the seconds until its oldest failure expires."""
        times = self._failures.get(key)
        if not times:
            return 0.0
        if max(times) > now:  # the clock stepped back: count those failures as happening now
            times = self._failures[key] = deque(min(t, now) for t in times)
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if len(times) < self.limit:
            return 0.0
        return times[0] + self.window_s - now

    def fail(self, key: K, now: float) -> None:
        times = self._failures.pop(key, None) or deque()
        times.append(now)
        while len(times) > self.limit:
            times.popleft()
        self._failures[key] = times
        while len(self._failures) > self.max_keys:
            self._failures.popitem(last=False)

    def clear(self, key: K) -> None:
        self._failures.pop(key, None)
