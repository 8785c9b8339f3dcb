"""A node's link to the others through Redis: ephemeral frames, presence, devices, calls.

Events need no link of this kind: they are in the log, and the bus (bus.py) only wakes the
nodes to read it. What is not in the log goes here:
- ephemeral frames (typing) one node's hub relays are published on `EPHEMERAL` and relayed
  by every other node to its own sockets. Best effort, as on one node: a frame published
  while a node is cut off from Redis is not seen there, and nothing is waiting on it;
- presence is the cluster's (presence.py): this node tells Redis of its people's first and
  last sockets and renews them; every change, whichever node made it, comes back on the
  presence channel and each node tells its own sockets;
- devices: each node takes a number (`open`) that its device ids carry, tells the others of
  its devices and hears of theirs, so `rtc.devices` lists and `rtc.signal` reaches a device
  on any node (devices.py);
- calls: the registry is in Redis and its changes reach every node (calls.py);
- boards: ops, live strokes, cursors and viewers reach the other nodes (paint.py).
Everything a node says goes through one outbox, so the others hear it in the order it was
said.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

import redis.asyncio as redis
from redis.exceptions import RedisError

from ..connection import Connection, number_connections
from ..errors import AppError
from ..hub import Hub
from . import calls as call_store
from . import devices, paint, presence
from .calls import SharedCallStore, take_number
from .devices import RemoteDevices
from .paint import PaintLink
from .presence import SharedPresence

if TYPE_CHECKING:
    from ..chat.calls import CallService
    from ..painter.live_boards import Painter

log = logging.getLogger(__name__)

EPHEMERAL = "pychat:ephemeral"
RETRY_S = 1.0  # after Redis was lost: subscribe again
QUEUE = 10_000  # frames waiting to be published; beyond, new ones are dropped (ephemeral)
CONNECTIONS = 64  # to Redis from one node, the subscriber's included
CONNECTION_WAIT_S = 5.0  # for a free one, before the command fails
QUEUE_BYTES = 32 << 20  # ... and at most this much of them (signals and strokes may be big)


class NodeLink:
    def __init__(self, url: str, hub: Hub) -> None:
        self.node = uuid.uuid4().hex  # unique among the live nodes
        self.number = 0  # this node's number, in its devices' ids (`open`)
        # A bounded pool that makes bursts wait their turn (a hundred sockets closing at
        # once, a send storm) instead of failing with "too many connections".
        pool = redis.BlockingConnectionPool.from_url(
            url,
            max_connections=CONNECTIONS,
            timeout=CONNECTION_WAIT_S,
            retry=None,
            socket_keepalive=True,
            health_check_interval=10,
        )
        self.client: redis.Redis = redis.Redis.from_pool(pool)  # closed with the client
        self._hub = hub
        self._presence = SharedPresence(self.client, self.node)
        self.ttl_s = self._presence.ttl_s
        self._outbox: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(QUEUE)
        self._outbox_bytes = 0  # of the frames and messages waiting in it
        self._tasks: list[asyncio.Task[None]] = []
        self._channels: dict[str, Callable[[str], None]] = {}
        self.devices: RemoteDevices | None = None
        self.calls: SharedCallStore | None = None
        self.paint: PaintLink | None = None

    async def open(self, calls: CallService, painter: Painter) -> None:
        """Take a node number, so that this node's device ids are its own, and share the
        calls and the boards through Redis. Before any socket connects."""
        self.number = await take_number(self.client, self.ttl_s)
        number_connections(self.number)
        self.devices = RemoteDevices(self.number, self._hub, self.publish, ttl_s=self.ttl_s)
        self.calls = SharedCallStore(
            self.client, calls.limits, calls.changed, node=self.number, clock=calls.clock
        )
        calls.use(self.calls)
        self.paint = PaintLink(self.number, painter, self.publish)
        painter.nodes = self.paint
        self._channels = {
            EPHEMERAL: self._ephemeral,
            presence.CHANNEL: self._presence_changed,
            devices.CHANNEL: self.devices.received,
            call_store.CHANNEL: self.calls.received,
            paint.CHANNEL: self.paint.received,
        }

    def start(self) -> None:
        """After `open`."""
        self._hub.forward = self._forward
        self._hub.on_local_presence = self._local_presence
        self._hub.on_device = self._device
        self._hub.other_nodes = self.devices
        subscribed = asyncio.Event()
        self._tasks = [
            asyncio.create_task(self._listen(subscribed), name="link-listen"),
            asyncio.create_task(self._send(), name="link-send"),
            asyncio.create_task(self._renew(), name="presence-renewal"),
            asyncio.create_task(self._alive(), name="node-alive"),
            asyncio.create_task(self._greet(subscribed), name="link-greet"),
        ]

    async def close(self) -> None:
        self._hub.forward = None
        self._hub.on_local_presence = None
        self._hub.on_device = None
        self._hub.other_nodes = None
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await task
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            await asyncio.wait_for(self._farewell(), RETRY_S)
        await self.client.aclose()

    async def _farewell(self) -> None:
        # This node's people are gone from it: offline unless another node holds them.
        await self._presence.went(list(self._hub.by_user))
        if self.devices is not None:
            await self.client.publish(devices.CHANNEL, self.devices.farewell())
        if self.calls is not None:
            await self.calls.leave()

    # -- out -------------------------------------------------------------------------------

    def publish(self, channel: str, text: str) -> None:
        """Published in order with everything else this node says (the outbox)."""
        if self._outbox_bytes + len(text) > QUEUE_BYTES:
            log.warning("the link to the other nodes is behind: a message was dropped")
            return
        self._outbox_bytes += len(text)
        self._put(("publish", (channel, text)))

    def _forward(self, user_ids: Collection[int] | None, data: bytes, skip_user: int) -> None:
        message = {
            "node": self.node,
            "users": None if user_ids is None else list(user_ids),
            "skip": skip_user,
            "data": data.decode(),
        }
        self.publish(EPHEMERAL, json.dumps(message, separators=(",", ":")))

    def _local_presence(self, user_id: int, online: bool) -> None:
        self._put(("came" if online else "went", [user_id]))

    def _device(self, conn: Connection, opened: bool) -> None:
        if self.devices is not None:
            if opened:
                self.devices.opened(conn.id, conn.user_id)
            else:
                self.devices.closed(conn.id)

    def _put(self, item: tuple[str, Any]) -> None:
        try:
            self._outbox.put_nowait(item)
        except asyncio.QueueFull:
            if item[0] == "publish":
                self._outbox_bytes -= len(item[1][1])
            log.warning("the link to the other nodes is behind: a message was dropped")

    async def _renew(self) -> None:
        # Through the outbox, in order with the comings and goings: a renewal taken before a
        # person left and sent after her "went" would bring her back for a whole ttl.
        while True:
            await asyncio.sleep(self.ttl_s / 3)
            self._put(("renew", []))
            if self.devices is not None:
                self.devices.renew()

    async def _alive(self) -> None:
        """This node's number renewed, and the calls repaired, on a task of its own: never
        behind a full outbox (a node late to renew is taken for dead)."""
        calls = self.calls
        assert calls is not None
        while True:
            await asyncio.sleep(self.ttl_s / 3)
            try:
                await calls.renew(self.ttl_s, lambda conn: conn in self._hub.by_id)
            except (RedisError, OSError, AppError) as e:
                log.warning("renewing this node in Redis failed (%s)", e)
            except Exception:
                log.exception("repairing the calls failed")

    async def _greet(self, subscribed: asyncio.Event) -> None:
        """Once listening: ask the others for their devices, and set the calls' timer."""
        await subscribed.wait()
        if self.devices is not None:
            self.devices.hello()
        if self.calls is not None:
            try:
                await self.calls.resume()
            except AppError as e:
                log.warning("the calls' timer was not set (%s): at the next renewal", e.message)

    async def _send(self) -> None:
        while True:
            kind, payload = await self._outbox.get()
            try:
                if kind == "publish":
                    self._outbox_bytes -= len(payload[1])
                    await self.client.publish(*payload)
                elif kind == "came":
                    await self._presence.came(payload)
                elif kind == "went":
                    await self._presence.went(payload)
                else:  # renew: the people this node holds now, and others' stale entries
                    await self._presence.came(list(self._hub.by_user))
                    await self._presence.sweep()
            except (RedisError, OSError) as e:
                # Presence is renewed every few seconds from the hub's own list: a lost
                # "came" heals there; a lost "went" expires with its entry.
                log.warning("telling the other nodes failed (%s)", e)
            except Exception:  # one bad message must not stop the link
                log.exception("telling the other nodes failed")

    # -- in --------------------------------------------------------------------------------

    async def _listen(self, subscribed: asyncio.Event) -> None:
        while True:
            try:
                async with self.client.pubsub() as pubsub:
                    await pubsub.subscribe(*self._channels)
                    subscribed.set()
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self._received(message["channel"], message["data"])
            except (RedisError, OSError) as e:
                log.warning("the link to the other nodes was lost (%s); subscribing again", e)
            await asyncio.sleep(RETRY_S)

    def _received(self, channel: Any, data: Any) -> None:
        text = data.decode() if isinstance(data, bytes) else str(data)
        name = channel.decode() if isinstance(channel, bytes) else str(channel)
        handler = self._channels.get(name)
        if handler is not None:
            try:
                handler(text)
            except Exception:  # one bad message must not stop the listening
                log.exception("a message on %s was not handled", name)

    def _presence_changed(self, text: str) -> None:
        try:
            user, state = text.split(":")
            self._hub.presence_noticed(int(user), state == "1", int(time.time() * 1000))
        except ValueError:
            log.warning("a malformed message on %s was ignored", presence.CHANNEL)

    def _ephemeral(self, text: str) -> None:
        try:
            message = json.loads(text)
            if message["node"] != self.node:
                users = message["users"]
                self._hub.relay_here(
                    None if users is None else [int(u) for u in users],
                    str(message["data"]).encode(),
                    skip_user=int(message["skip"]),
                )
        except (ValueError, KeyError, TypeError):
            log.warning("a malformed message on %s was ignored", EPHEMERAL)
