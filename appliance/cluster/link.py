"""A node's link to the others through Redis: ephemeral frames and presence.

Events need no link of this kind: they are in the log, and the bus (bus.py) only wakes the
nodes to read it. What is not in the log goes here:
- ephemeral frames (typing) one node's hub relays are published on `EPHEMERAL` and relayed
  by every other node to its own sockets. Best effort, as on one node: a frame published
  while a node is cut off from Redis is not seen there, and nothing is waiting on it;
- presence is the cluster's (presence.py): this node tells Redis of its people's first and
  last sockets and renews them; every change, whichever node made it, comes back on the
  presence channel and each node tells its own sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Collection
from typing import Any

import redis.asyncio as redis
from redis.exceptions import RedisError

from ..hub import Hub
from . import presence
from .presence import SharedPresence

log = logging.getLogger(__name__)

EPHEMERAL = "pychat:ephemeral"
RETRY_S = 1.0  # after Redis was lost: subscribe again
QUEUE = 10_000  # frames waiting to be published; beyond, new ones are dropped (ephemeral)


class NodeLink:
    def __init__(self, url: str, hub: Hub) -> None:
        self.node = uuid.uuid4().hex  # unique among the live nodes
        self.client: redis.Redis = redis.Redis.from_url(
            url, retry=None, socket_keepalive=True, health_check_interval=10
        )
        self._hub = hub
        self._presence = SharedPresence(self.client, self.node)
        self._outbox: asyncio.Queue[tuple[str, str | list[int]]] = asyncio.Queue(QUEUE)
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._hub.forward = self._forward
        self._hub.on_local_presence = self._local_presence
        self._tasks = [
            asyncio.create_task(self._listen(), name="link-listen"),
            asyncio.create_task(self._send(), name="link-send"),
            asyncio.create_task(self._renew(), name="presence-renewal"),
        ]

    async def close(self) -> None:
        self._hub.forward = None
        self._hub.on_local_presence = None
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await task
        # This node's people are gone from it: offline unless another node holds them.
        with contextlib.suppress(RedisError, OSError):
            await asyncio.wait_for(self._presence.went(list(self._hub.by_user)), RETRY_S)
        await self.client.aclose()

    # -- out -------------------------------------------------------------------------------

    def _forward(self, user_ids: Collection[int] | None, data: bytes, skip_user: int) -> None:
        message = {
            "node": self.node,
            "users": None if user_ids is None else list(user_ids),
            "skip": skip_user,
            "data": data.decode(),
        }
        self._put(("frame", json.dumps(message, separators=(",", ":"))))

    def _local_presence(self, user_id: int, online: bool) -> None:
        self._put(("came" if online else "went", [user_id]))

    def _put(self, item: tuple[str, str | list[int]]) -> None:
        try:
            self._outbox.put_nowait(item)
        except asyncio.QueueFull:
            log.warning("the link to the other nodes is behind: an ephemeral frame was dropped")

    async def _renew(self) -> None:
        # Through the outbox, in order with the comings and goings: a renewal taken before a
        # person left and sent after her "went" would bring her back for a whole ttl.
        while True:
            await asyncio.sleep(self._presence.ttl_s / 3)
            self._put(("renew", []))

    async def _send(self) -> None:
        while True:
            kind, payload = await self._outbox.get()
            try:
                if kind == "frame":
                    assert isinstance(payload, str)
                    await self.client.publish(EPHEMERAL, payload)
                elif kind == "came":
                    await self._presence.came(payload)  # type: ignore[arg-type]
                elif kind == "went":
                    await self._presence.went(payload)  # type: ignore[arg-type]
                else:  # renew: the people this node holds now, and others' stale entries
                    await self._presence.came(list(self._hub.by_user))
                    await self._presence.sweep()
            except (RedisError, OSError) as e:
                # Presence is renewed every few seconds from the hub's own list: a lost
                # "came" heals there; a lost "went" expires with its entry.
                log.warning("telling the other nodes failed (%s)", e)

    # -- in --------------------------------------------------------------------------------

    async def _listen(self) -> None:
        while True:
            try:
                async with self.client.pubsub() as pubsub:
                    await pubsub.subscribe(EPHEMERAL, presence.CHANNEL)
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self._received(message["channel"], message["data"])
            except (RedisError, OSError) as e:
                log.warning("the link to the other nodes was lost (%s); subscribing again", e)
            await asyncio.sleep(RETRY_S)

    def _received(self, channel: Any, data: Any) -> None:
        text = data.decode() if isinstance(data, bytes) else str(data)
        name = channel.decode() if isinstance(channel, bytes) else str(channel)
        try:
            if name == presence.CHANNEL:
                user, state = text.split(":")
                self._hub.presence_noticed(int(user), state == "1", int(time.time() * 1000))
                return
            message = json.loads(text)
            if message["node"] != self.node:
                users = message["users"]
                self._hub.relay_here(
                    None if users is None else [int(u) for u in users],
                    str(message["data"]).encode(),
                    skip_user=int(message["skip"]),
                )
        except (ValueError, KeyError, TypeError):
            log.warning("a malformed message on %s was ignored", name)
