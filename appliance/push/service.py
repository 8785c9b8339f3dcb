"""Web Push on the appliance: the admin's switch, the VAPID key, people's subscriptions and
the sender, as one object the app holds (`state/app_keys.WEB_PUSH`).

Off by default. While off nothing is sent and no subscription is accepted; turning it off
keeps the subscriptions, so turning it on again needs nothing of anyone.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

from ..config import Settings
from ..db import Database, Tx
from ..discovery.device_name import default_name
from ..errors import AppError
from ..storage import push_subscriptions as subs
from ..storage import settings as stored
from . import endpoints
from .delivery import Delivery, Push
from .vapid import VapidKey

MAX_PER_PERSON = 10  # devices of one person that may subscribe (the oldest goes first)
MAX_PAYLOAD_BYTES = 3000  # before encryption (the notifications contract)


class PushOff(AppError):
    status, code = 409, "push_disabled"


class WebPush:
    def __init__(self, settings: Settings, db: Database, clock: Callable[[], float] = time.time):
        self._settings = settings
        self._db = db
        self._clock = clock
        self.enabled = False
        self.key: VapidKey | None = None
        # Who has a subscription: most people have none, and they cost nothing then.
        self.subscribers: set[int] = set()
        self._delivery: Delivery | None = None

    def ctx(self) -> Callable[[web.Application], AsyncIterator[None]]:
        """A cleanup context (after the database's): the key, the switch, the sender."""

        async def run(app: web.Application) -> AsyncIterator[None]:
            await self.start()
            yield
            await self.stop()

        return run

    async def start(self) -> None:
        self.key = await asyncio.to_thread(VapidKey.load_or_create, self._settings.data_dir)
        self.enabled = await stored.get(self._db, stored.PUSH_ENABLED) == "1"
        self.subscribers = await subs.subscribers(self._db)
        self._delivery = Delivery(
            self._db,
            self.key,
            self._settings.push,
            subject=self._subject,
            enabled=lambda: self.enabled,
            dropped=self._forget_if_none,
            clock=self._clock,
        )
        await self._delivery.start()

    async def stop(self) -> None:
        if self._delivery is not None:
            await self._delivery.stop()

    async def _subject(self) -> str:
        contact = self._settings.push.contact
        if contact:
            return contact
        name = await stored.get(self._db, stored.DEVICE_NAME) or default_name(
            self._settings.discovery.name_before_setup
        )
        return f"mailto:admin@{name}.local"

    async def _forget_if_none(self, user_id: int) -> None:
        if not await subs.has_any(self._db, user_id):
            self.subscribers.discard(user_id)

    # -- the admin's switch ----------------------------------------------------------------

    async def set_enabled(self, on: bool) -> None:
        async def job(tx: Tx) -> None:
            await stored.put(tx, stored.PUSH_ENABLED, "1" if on else "0")

        await self._db.write(job)
        self.enabled = on

    async def status(self) -> dict[str, Any]:
        counts = self._delivery
        return {
            "enabled": self.enabled,
            "subscriptions": await subs.count(self._db),
            "sent": counts.sent if counts else 0,
            "failed": counts.failed if counts else 0,
        }

    # -- a person's devices ----------------------------------------------------------------

    def public_key(self) -> dict[str, Any]:
        key = self.key.public_key if self.key is not None and self.enabled else None
        return {"enabled": self.enabled, "key": key}

    async def subscribe(
        self, user_id: int, session_id: int, endpoint: str, p256dh: str, auth: str
    ) -> int:
        if not self.enabled:
            raise PushOff("Web Push is off on this appliance: the admin has not turned it on.")
        checked = endpoints.check(
            endpoint, p256dh, auth, any_endpoint=self._settings.push.test_endpoints == "on"
        )
        now = int(self._clock() * 1000)

        async def job(tx: Tx) -> int:
            return await subs.save(
                tx,
                user_id=user_id,
                session_id=session_id,
                endpoint=checked.endpoint,
                p256dh=checked.p256dh,
                auth=checked.auth,
                now=now,
                keep=MAX_PER_PERSON,
            )

        subscription_id = await self._db.write(job)
        self.subscribers.add(user_id)
        return subscription_id

    async def unsubscribe(self, user_id: int, endpoint: str) -> bool:
        async def job(tx: Tx) -> bool:
            return await subs.remove(tx, user_id, endpoint)

        removed = await self._db.write(job)
        await self._forget_if_none(user_id)
        return removed

    # -- sending ---------------------------------------------------------------------------

    def wants(self, user_id: int) -> bool:
        return self.enabled and user_id in self.subscribers

    def send(self, user_id: int, payload: dict[str, Any], *, urgent: bool) -> bool:
        """Queue one payload for all of a person's devices; False when it was not queued."""
        if not self.wants(user_id) or self._delivery is None:
            return False
        data = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        if len(data) > MAX_PAYLOAD_BYTES:
            raise ValueError("push payload over its size limit")
        push = Push(user_id, data, "high" if urgent else "normal", f"room-{payload['room']}")
        return self._delivery.offer(push)
