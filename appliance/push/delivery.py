"""Sending: payloads to a person's devices through their push services.

Bounded everywhere: a queue with a cap (a notification past it is dropped and logged), a
rate cap per person, a timeout on every request. A push service answering 404 or 410 has
forgotten the subscription: it is dropped. Any other failure backs that subscription off
(30 s doubling to an hour) and, after many in a row, drops it too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp

from ..config import PushSettings
from ..db import Database, Tx
from ..engine import Row
from ..ratelimit import TokenBuckets
from ..storage import push_subscriptions as subs
from . import ece
from .endpoints import origin
from .vapid import TOKEN_LIFETIME_S, VapidKey

log = logging.getLogger(__name__)
SENDERS = 2  # requests in flight at once: a Pi on an office line needs no more
TTL_S = 4 * 3600  # a device offline longer than this gets no stale notification
FIRST_BACKOFF_S = 30
MAX_BACKOFF_S = 3600
DROP_AFTER_FAILURES = 100  # a day or more of failing every hour
PER_PERSON_BURST = 10


@dataclass(frozen=True)
class Push:
    user_id: int
    payload: bytes  # JSON, encrypted per device when sent
    urgency: str  # RFC 8030 section 5.3: "high" for a message, "normal" for a read
    topic: str  # a newer push with the same topic replaces one still waiting at the service


class Delivery:
    def __init__(
        self,
        db: Database,
        key: VapidKey,
        settings: PushSettings,
        *,
        subject: Callable[[], Awaitable[str]],
        enabled: Callable[[], bool],
        dropped: Callable[[int], Awaitable[None]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = db
        self._key = key
        self._settings = settings
        self._subject = subject
        self._enabled = enabled
        self._dropped = dropped  # told the user whose subscription was dropped
        self._clock = clock
        # One queue per sender, a person always on the same one: her pushes go out in the
        # order they were made (a "read" never overtakes the message it closes).
        share = max(1, settings.queue // SENDERS)
        self._queues: list[asyncio.Queue[Push]] = [
            asyncio.Queue(maxsize=share) for _ in range(SENDERS)
        ]
        self._per_person: TokenBuckets[int] = TokenBuckets(
            settings.per_person_per_minute / 60, PER_PERSON_BURST
        )
        self._tokens: dict[tuple[str, str], tuple[str, float]] = {}
        self._http: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.sent = 0
        self.failed = 0
        self.dropped_full = 0

    def offer(self, push: Push) -> bool:
        """Queue a push; False when it was dropped (queue full, or the person's cap)."""
        if self._per_person.take(push.user_id, self._clock()) > 0:
            log.info("web push to user %d dropped: over the per-person rate", push.user_id)
            return False
        try:
            self._queues[push.user_id % SENDERS].put_nowait(push)
        except asyncio.QueueFull:
            self.dropped_full += 1
            if self.dropped_full in (1, 10, 100) or self.dropped_full % 1000 == 0:
                log.warning("web push queue full: %d notifications dropped", self.dropped_full)
            return False
        return True

    async def start(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self._settings.send_timeout_s)
        self._http = aiohttp.ClientSession(
            timeout=timeout, connector=aiohttp.TCPConnector(limit=SENDERS * 2)
        )
        self._tasks = [
            asyncio.create_task(self._work(queue), name=f"web-push-{i}")
            for i, queue in enumerate(self._queues)
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def _work(self, queue: asyncio.Queue[Push]) -> None:
        while True:
            push = await queue.get()
            try:
                if self._enabled():  # the admin may have turned it off since
                    await self._to_devices(push)
            except Exception:
                log.exception("web push to user %d failed", push.user_id)

    async def _to_devices(self, push: Push) -> None:
        now_ms = int(self._clock() * 1000)
        subject = await self._subject()
        rows = await subs.of_users(self._db, [push.user_id])
        if not rows:  # signed out of every device since (sessions take their subscriptions)
            await self._dropped(push.user_id)
        for row in rows:
            if row["retry_at"] is not None and row["retry_at"] > now_ms:
                continue  # backing off after failures
            await self._send(row, push, subject)

    def _sealed(self, row: Row, push: Push, subject: str) -> tuple[bytes, str]:
        """The encrypted body and the Authorization header (run in a thread: EC work)."""
        body = ece.encrypt(push.payload, bytes(row["p256dh"]), bytes(row["auth"]))
        audience = origin(row["endpoint"])
        now = self._clock()
        cached = self._tokens.get((audience, subject))
        # A token is reused until an hour before it expires: one signature per hour per service.
        if cached is None or cached[1] - now < 3600:
            header = self._key.authorization(audience, subject, int(now))
            cached = (header, now + TOKEN_LIFETIME_S)
            if len(self._tokens) > 64:
                self._tokens.clear()
            self._tokens[(audience, subject)] = cached
        return body, cached[0]

    async def _send(self, row: Row, push: Push, subject: str) -> None:
        assert self._http is not None
        body, authorization = await asyncio.to_thread(self._sealed, row, push, subject)
        headers = {
            "Authorization": authorization,
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
            "TTL": str(TTL_S),
            "Urgency": push.urgency,
            "Topic": push.topic,
        }
        status: int | None = None
        try:
            async with self._http.post(
                row["endpoint"], data=body, headers=headers, allow_redirects=False
            ) as response:
                status = response.status
        except (aiohttp.ClientError, TimeoutError, OSError) as e:
            log.info("web push to %s failed: %s", origin(row["endpoint"]), e or type(e).__name__)
        await self._record(int(row["id"]), int(row["user_id"]), status)

    async def _record(self, subscription_id: int, user_id: int, status: int | None) -> None:
        now = int(self._clock() * 1000)
        if status is not None and 200 <= status < 300:
            self.sent += 1

            async def success(tx: Tx) -> None:
                await subs.succeeded(tx, subscription_id, now)

            await self._db.write(success)
            return
        self.failed += 1
        if status in (404, 410):  # RFC 8030 section 7.3: the subscription is gone
            await self._drop(subscription_id, user_id)
            return
        if status is not None:
            log.info("web push service answered %d", status)

        async def failure(tx: Tx) -> int:
            return await subs.failed(
                tx, subscription_id, now, FIRST_BACKOFF_S * 1000, MAX_BACKOFF_S * 1000
            )

        if await self._db.write(failure) >= DROP_AFTER_FAILURES:
            await self._drop(subscription_id, user_id)

    async def _drop(self, subscription_id: int, user_id: int) -> None:
        async def drop(tx: Tx) -> None:
            await subs.remove_id(tx, subscription_id)

        await self._db.write(drop)
        await self._dropped(user_id)
