"""Rate limits shared by every node, in Redis: the same token buckets and failure windows
as `appliance/ratelimit.py` keeps in one process's memory, so an attacker gains nothing by
spreading attempts over the nodes behind the load balancer.

Each check is one Lua script, run atomically by Redis: parallel attempts from any number of
nodes cannot all slip past a limit between a read and a write. Time is Redis's own clock
(one clock for every node); failures stamped in its future (its clock stepped back) count
as happening now, as the in-memory windows do. Every key expires once it can no longer
matter, so Redis's memory is bounded by the recent attempts, whatever an attacker sends.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import NamedTuple

import redis.asyncio as redis
from redis.exceptions import RedisError

from ..buckets import Buckets
from ..guesses import Guess, too_many

log = logging.getLogger(__name__)

PREFIX = "pychat:limit:"
ANSWER_S = 1.0  # a rate limit waits this long for Redis before the node limits alone
WARN_EVERY_S = 60.0
MAX_BATCH = 256  # keys in one script call (Redis runs it alone: keep it short)

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
"""

# Every key in KEYS takes a token, in order (the takes that came in one turn of a node's
# loop: one round trip for all of them); the waits, in the same order.
_TAKE = (
    _NOW
    + """
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local waits = {}
for i, key in ipairs(KEYS) do
    local held = redis.call('HMGET', key, 'tokens', 'stamp')
    local tokens = tonumber(held[1]) or burst
    local stamp = tonumber(held[2]) or now
    tokens = math.min(burst, tokens + math.max(0, now - stamp) * rate)
    local wait = 0
    if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
    redis.call('HSET', key, 'tokens', tostring(tokens), 'stamp', tostring(now))
    redis.call('PEXPIRE', key, math.ceil(burst / rate * 1000) + 1000)
    waits[i] = tostring(wait)
end
return waits
"""
)

# Failures are a sorted set: member an attempt's id, score its time.
_WINDOW = (
    _NOW
    + """
local limit, window = tonumber(ARGV[1]), tonumber(ARGV[2])
for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')) do
    redis.call('ZADD', KEYS[1], now, member)
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local wait = 0
if redis.call('ZCARD', KEYS[1]) >= limit then
    local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
    wait = tonumber(oldest[2]) + window - now
end
"""
)
_RETRY_AFTER = _WINDOW + "return tostring(wait)"
_ATTEMPT = (
    _WINDOW
    + """
if wait <= 0 then
    redis.call('ZADD', KEYS[1], now, ARGV[3])
    redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000))
end
return tostring(wait)
"""
)
_FAIL = (
    _NOW
    + """
local limit, window = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -limit - 1)
redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000))
return 0
"""
)


class SharedTokenBuckets:
    """`rate` tokens a second up to `burst`, one bucket per key, for every node at once."""

    def __init__(
        self,
        client: redis.Redis,
        name: str,
        rate: float,
        burst: int,
        *,
        fallback: Buckets | None = None,
    ) -> None:
        """`fallback`: what limits while Redis does not answer (this node's own buckets),
        so that an outage of Redis slows nobody's messages, and still limits them."""
        self._client = client
        self._prefix = f"{PREFIX}{name}:"
        self.name = name
        self.rate = rate
        self.burst = burst
        self._take = client.register_script(_TAKE)
        self._fallback = fallback
        self._warned_at = 0.0
        self._waiting: list[tuple[str, asyncio.Future[float]]] = []
        self._asking: set[asyncio.Task[None]] = set()  # script calls under way

    @classmethod
    def beside(cls, client: redis.Redis, name: str, local: Buckets) -> SharedTokenBuckets:
        """The same buckets as this node's own `local` ones, in Redis; `local` limits while
        Redis does not answer."""
        return cls(client, name, local.rate, local.burst, fallback=local)

    async def take(self, key: str) -> float:
        """Take a token; 0 when allowed, else the seconds until one is available.

        The takes asked for in one turn of the loop go to Redis in one script call: a
        round trip costs a node ~0.3 ms of CPU in redis-py, and under load it was a fifth
        of a node's CPU per message (bench/cluster_serve.py, profiled)."""
        loop = asyncio.get_running_loop()
        if not self._waiting:
            loop.call_soon(self._flush)
        future: asyncio.Future[float] = loop.create_future()
        self._waiting.append((key, future))
        try:
            return await future
        except (RedisError, OSError, TimeoutError) as e:
            if self._fallback is None:
                raise
            now = time.monotonic()
            if now - self._warned_at > WARN_EVERY_S:
                self._warned_at = now
                log.warning("Redis did not answer (%s): %s limited by this node", e, self.name)
            return await self._fallback.take(key)

    def _flush(self) -> None:
        waiting, self._waiting = self._waiting, []
        task = asyncio.ensure_future(self._ask_in_order(waiting))
        self._asking.add(task)
        task.add_done_callback(self._asking.discard)

    async def _ask_in_order(self, waiting: list[tuple[str, asyncio.Future[float]]]) -> None:
        # One script call after the other: calls at once could run in Redis in any order
        # (each on a connection of its own), and a later comer take a first comer's token.
        for start in range(0, len(waiting), MAX_BATCH):
            await self._ask(waiting[start : start + MAX_BATCH])

    async def _ask(self, batch: list[tuple[str, asyncio.Future[float]]]) -> None:
        keys = [self._prefix + key for key, _ in batch]
        try:
            async with asyncio.timeout(None if self._fallback is None else ANSWER_S):
                waits = await self._take(keys=keys, args=[self.rate, self.burst])
        except Exception as e:
            for _, future in batch:
                if not future.done():
                    future.set_exception(e)
            return
        for (_, future), wait in zip(batch, waits, strict=True):
            if not future.done():
                future.set_result(float(wait))


class Attempt(NamedTuple):
    wait: float  # 0: allowed (counted as a failure until forgiven), else seconds to wait
    token: str  # what `forgive` takes back


class SharedFailureWindow:
    """Failures per key in a sliding window, for every node at once; blocked at `limit`."""

    def __init__(self, client: redis.Redis, name: str, limit: int, window_s: float) -> None:
        self._client = client
        self._prefix = f"{PREFIX}{name}:"
        self.limit = limit
        self.window_s = window_s
        self._retry_after = client.register_script(_RETRY_AFTER)
        self._attempt = client.register_script(_ATTEMPT)
        self._fail = client.register_script(_FAIL)

    async def retry_after(self, key: str) -> float:
        """0 when the key may try again, else the seconds until its oldest failure expires."""
        wait = await self._retry_after(keys=[self._prefix + key], args=[self.limit, self.window_s])
        return float(wait)

    async def attempt(self, key: str) -> Attempt:
        """Count an attempt as a failure before it is checked (so parallel attempts on any
        nodes cannot all slip past the limit); `forgive` it if it succeeds."""
        token = uuid.uuid4().hex
        wait = await self._attempt(
            keys=[self._prefix + key], args=[self.limit, self.window_s, token]
        )
        return Attempt(float(wait), token)

    async def forgive(self, key: str, attempt: Attempt) -> None:
        await self._client.zrem(self._prefix + key, attempt.token)

    async def fail(self, key: str) -> None:
        await self._fail(
            keys=[self._prefix + key], args=[self.limit, self.window_s, uuid.uuid4().hex]
        )

    async def count(self, key: str) -> int:
        """Failures of `key` still inside the window."""
        await self.retry_after(key)  # drops the expired ones
        return int(await self._client.zcard(self._prefix + key))

    async def clear(self, key: str) -> None:
        await self._client.delete(self._prefix + key)


class SharedGuesses:
    """Password and invite guesses counted by every node together (guesses.py)."""

    def __init__(self, client: redis.Redis, *, per_ip: int, per_user: int, window_s: float) -> None:
        self.by_ip = SharedFailureWindow(client, "guesses-ip", per_ip, window_s)
        self.by_user = SharedFailureWindow(client, "guesses-user", per_user, window_s)

    async def count(self, ip: str | None, user: str | None) -> Guess:
        guess = Guess(ip, user)
        if ip is not None:
            by_ip = await self.by_ip.attempt(ip)
            if by_ip.wait > 0:
                raise too_many(by_ip.wait)
            guess.tokens["ip"] = by_ip
        if user is not None:
            by_user = await self.by_user.attempt(user)
            if by_user.wait > 0:
                await self.forgive(guess)
                raise too_many(by_user.wait)
            guess.tokens["user"] = by_user
        return guess

    async def forgive(self, guess: Guess, *, user: bool = True) -> None:
        if guess.ip is not None and "ip" in guess.tokens:
            await self.by_ip.forgive(guess.ip, guess.tokens.pop("ip"))
        if user and guess.user is not None and "user" in guess.tokens:
            await self.by_user.forgive(guess.user, guess.tokens.pop("user"))

    async def succeeded(self, guess: Guess) -> None:
        if guess.user is not None:
            await self.by_user.clear(guess.user)
        await self.forgive(guess, user=False)
