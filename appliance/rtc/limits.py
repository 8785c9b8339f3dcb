"""Limits of the TURN server and the token bucket that enforces relayed rates."""

from __future__ import annotations

from dataclasses import dataclass

#: RFC 8656 §6: "the default lifetime value of 600 seconds".
DEFAULT_LIFETIME_S = 600
#: RFC 8656 §7.2: "a maximum allowed lifetime value of no more than 3600 seconds".
MAX_LIFETIME_S = 3600
#: RFC 8656 §9: "The Permission Lifetime MUST be 300 seconds".
PERMISSION_LIFETIME_S = 300
#: RFC 8656 §12: "A channel binding lasts for 10 minutes unless refreshed".
CHANNEL_LIFETIME_S = 600
#: RFC 8656 §12: after a binding expires, its number and peer stay reserved 5 minutes.
CHANNEL_QUARANTINE_S = 300


@dataclass(frozen=True)
class TurnLimits:
    """Quotas and sanity limits. Errors name the field (``turn.<field>``)."""

    max_allocations: int = 1000
    max_allocations_per_user: int = 64
    max_permissions_per_allocation: int = 64
    max_channels_per_allocation: int = 64
    max_lifetime_s: int = MAX_LIFETIME_S
    #: relayed bytes and packets per second per allocation, both directions together.
    bytes_per_second: int = 6_250_000  # 50 Mbit/s
    packets_per_second: int = 5_000
    burst_seconds: float = 1.0
    max_tcp_connections: int = 1024
    #: a TCP connection that has not allocated after this long is closed.
    tcp_idle_timeout_s: float = 30.0
    #: bytes queued on a TCP connection before relayed data to it is dropped.
    tcp_write_buffer_bytes: int = 1 << 20
    #: RFC 8656 §5: the server "SHOULD expire the nonce at least once every hour".
    nonce_lifetime_s: float = 3600.0
    #: answers without credentials (Binding, 400/401 challenges) per source address:
    #: beyond them requests are dropped, so we reflect or help guess nothing at volume.
    unauthenticated_per_second: float = 20.0
    unauthenticated_burst: int = 100

    def __post_init__(self) -> None:
        for name in (
            "max_allocations",
            "max_allocations_per_user",
            "max_permissions_per_allocation",
            "max_channels_per_allocation",
            "bytes_per_second",
            "packets_per_second",
            "max_tcp_connections",
            "tcp_write_buffer_bytes",
            "unauthenticated_burst",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"turn.{name}: must be at least 1")
        if not DEFAULT_LIFETIME_S <= self.max_lifetime_s <= MAX_LIFETIME_S:
            raise ValueError(f"turn.max_lifetime_s: must be {DEFAULT_LIFETIME_S}-{MAX_LIFETIME_S}")
        for name in (
            "burst_seconds",
            "tcp_idle_timeout_s",
            "nonce_lifetime_s",
            "unauthenticated_per_second",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"turn.{name}: must be positive")


class TokenBucket:
    """Bytes and packets per second with a burst allowance; ``now`` is passed in."""

    __slots__ = ("_burst", "_bytes", "_bytes_rate", "_last", "_packets", "_packets_rate")

    def __init__(self, bytes_rate: int, packets_rate: int, burst_s: float, now: float) -> None:
        self._bytes_rate = float(bytes_rate)
        self._packets_rate = float(packets_rate)
        self._burst = burst_s
        self._bytes = self._bytes_rate * burst_s
        self._packets = self._packets_rate * burst_s
        self._last = now

    def take(self, size: int, now: float) -> bool:
        """Spend one packet of ``size`` bytes; ``False`` (drop it) when over the rate."""
        elapsed = now - self._last
        if elapsed > 0:
            self._last = now
            self._bytes = min(
                self._bytes + elapsed * self._bytes_rate, self._bytes_rate * self._burst
            )
            self._packets = min(
                self._packets + elapsed * self._packets_rate, self._packets_rate * self._burst
            )
        if self._packets < 1 or self._bytes < size:
            return False
        self._packets -= 1
        self._bytes -= size
        return True


class SourceLimiter:
    """Events per second per source address, with a burst; a bounded number of sources
    (past it the table starts over: a flood of spoofed sources cannot grow memory)."""

    __slots__ = ("_burst", "_rate", "_sources")
    MAX_SOURCES = 10_000

    def __init__(self, per_second: float, burst: int) -> None:
        self._rate = per_second
        self._burst = float(burst)
        self._sources: dict[str, tuple[float, float]] = {}

    def allow(self, source: str, now: float) -> bool:
        tokens, last = self._sources.get(source, (self._burst, now))
        tokens = min(self._burst, tokens + (now - last) * self._rate)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        if source not in self._sources and len(self._sources) >= self.MAX_SOURCES:
            self._sources.clear()
        self._sources[source] = (tokens, now)
        return allowed
