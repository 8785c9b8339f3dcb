"""In-memory rate limits: token buckets for sends, failure windows for logins, and gates
that cap how much work one key (an address, a user) has in flight.

Time is passed in (`now`, seconds) so tests can advance it instead of sleeping. It is the
wall clock, which may step (clock/steps.py): a step back must not lock anyone out for as long.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Generic, TypeVar

K = TypeVar("K")


def address_key(address: str) -> str:
    """What an address is limited by. An IPv6 host picks any address in its /64 at will,
    so the /64 counts as one; an IPv4-mapped address is the IPv4 address."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


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

    def count(self, key: K, now: float) -> int:
        """Failures of `key` still inside the window."""
        self.retry_after(key, now)  # drops the expired ones
        return len(self._failures.get(key, ()))

    def attempt(self, key: K, now: float) -> float:
        """Count an attempt as a failure before it is checked, so parallel attempts cannot
        all slip past the limit; 0 when allowed (`forgive` it if it succeeds), else the
        seconds to wait (then nothing is counted)."""
        wait = self.retry_after(key, now)
        if wait <= 0:
            self.fail(key, now)
        return wait

    def forgive(self, key: K) -> None:
        """Give back one attempt counted by `attempt`: it succeeded, or was never checked."""
        times = self._failures.get(key)
        if times:
            times.pop()
        if not times:
            self._failures.pop(key, None)

    def clear(self, key: K) -> None:
        self._failures.pop(key, None)


class Busy(Exception):
    """A gate is full: the caller should answer "try again shortly"."""


class InFlight(Generic[K]):
    """At most `running` holders per key at once and `waiting` more queued behind them;
    anyone beyond that is refused at once (`Busy`), so one key cannot fill a shared queue."""

    def __init__(self, running: int, waiting: int) -> None:
        self.running = running
        self.waiting = waiting
        # Only keys with holders or waiters are kept: the table is bounded by the work.
        self._keys: dict[K, tuple[asyncio.Semaphore, list[int]]] = {}

    @asynccontextmanager
    async def hold(self, key: K) -> AsyncIterator[None]:
        sem, count = self._keys.get(key) or self._keys.setdefault(
            key, (asyncio.Semaphore(self.running), [0])
        )
        if count[0] >= self.running + self.waiting:
            raise Busy
        count[0] += 1
        try:
            async with sem:
                yield
        finally:
            count[0] -= 1
            if count[0] == 0:
                del self._keys[key]

    def held(self, key: K) -> int:
        entry = self._keys.get(key)
        return entry[1][0] if entry else 0
