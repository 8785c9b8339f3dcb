"""Per-account and per-address rate limits (sending, typing, creating rooms, TURN
credentials, test calls, password-reset mail) behind one interface.

One device keeps its token buckets in memory (`LocalBuckets`, over
`ratelimit.TokenBuckets`); several nodes keep them in Redis
(`cluster/limits.py: SharedTokenBuckets`), or someone whose requests the load balancer
spreads over N nodes would get N times the rate. Keys are strings, the same on every node.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from .ratelimit import TokenBuckets


class Buckets(Protocol):
    rate: float  # tokens a second
    burst: int  # tokens a bucket holds at most

    async def take(self, key: str) -> float:
        """Take a token; 0 when allowed, else the seconds until one is available."""
        ...


class LocalBuckets:
    def __init__(self, rate: float, burst: int, clock: Callable[[], float]) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: TokenBuckets[str] = TokenBuckets(rate, burst)
        self._clock = clock

    async def take(self, key: str) -> float:
        return self._buckets.take(key, self._clock())
