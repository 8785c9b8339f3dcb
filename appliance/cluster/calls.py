"""The call registry shared by the nodes, in Redis: who is in which call, who is being
rung, and when rings and absences run out, whichever node each person's device is on.

The registry is one JSON value (`KEY`, chat/call_codec.py): a few calls of at most
`calls.max_participants` each, so small. An operation reads it under WATCH, runs on it as
on one device (chat/call_registry.py), and writes it back in a MULTI that also publishes
the deliveries it renders (chat/call_frames.py). Redis runs the transaction at once, so the
changes are published in the order they were made; a transaction that lost a race to
another node's runs again on what that one wrote. Every node, the one that made the change
included, tells its own devices when the publication reaches it, and sets its timer for the
registry's next deadline: when it passes, each node runs the registry's `tick`, and the
first one to commit does what is due (the others then find nothing to do).

A node that is killed tells nobody its devices went. Each node renews its number in
`NODES` (sorted by expiry) every few seconds and then `sweep`s: a participant whose device
is on a node that stopped renewing is away, as if its socket had closed, and has the rejoin
grace to come back through another node. The nodes' clocks are taken to agree (NTP): the
wall-clock step handling of a lone device (clock/steps.py) does not apply here.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis.asyncio as redis
from redis.exceptions import WatchError

from ..chat import call_codec
from ..chat.call_frames import Delivery, render
from ..chat.call_registry import CallLimits, CallRegistry, Notices
from ..chat.call_store import CLAIM_S, OnChange, Op
from ..connection import node_of
from ..errors import Conflict

log = logging.getLogger(__name__)

KEY = "pychat:calls"
CHANNEL = "pychat:calls"
NODES = "pychat:nodes"  # node number -> until when it is alive (unix seconds)
CLAIMS = "pychat:claim:"  # + what: the node acting on it
ATTEMPTS = 50  # transactions lost to other nodes' before one gives up

T = TypeVar("T")


class SharedCallStore:
    def __init__(
        self,
        client: redis.Redis,
        limits: CallLimits,
        on_change: OnChange,
        *,
        node: int,
        clock: Callable[[], float],
    ) -> None:
        self._client = client
        self._limits = limits
        self._on_change = on_change
        self.node = node
        self._clock = clock

    async def run(self, op: Op[T]) -> tuple[T, Notices]:
        async with self._client.pipeline(transaction=True) as pipe:
            for _ in range(ATTEMPTS):
                try:
                    await pipe.watch(KEY)
                    registry = call_codec.decode(await pipe.get(KEY), self._limits)
                    result, notices = op(registry)  # an error: the pipeline is reset on exit
                    if not notices:
                        await pipe.reset()  # type: ignore[no-untyped-call]
                        return result, notices
                    change = {
                        "deliveries": [d.as_json() for d in render(notices, registry)],
                        "deadline": registry.next_deadline(),
                    }
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.set(KEY, call_codec.encode(registry))
                    pipe.publish(CHANNEL, json.dumps(change, separators=(",", ":")))
                    await pipe.execute()
                    return result, notices
                except WatchError:
                    continue  # another node changed the calls first: again, on its state
        raise Conflict("The calls are changing too fast; try again.")

    async def snapshot(self) -> CallRegistry:
        return call_codec.decode(await self._client.get(KEY), self._limits)

    def shift_clock(self, delta_s: float) -> None:
        log.warning("the clock stepped %+.0f s: calls' timers follow the nodes' clocks", delta_s)

    async def claim(self, what: str) -> bool:
        key = CLAIMS + what
        return bool(await self._client.set(key, str(self.node), nx=True, ex=CLAIM_S))

    def received(self, text: str) -> None:
        """A change some node made (this one's own included): to this node's devices."""
        try:
            change: dict[str, Any] = json.loads(text)
            deliveries = [Delivery.from_json(raw) for raw in change["deliveries"]]
            deadline = change["deadline"]
        except (ValueError, KeyError, TypeError):
            log.warning("a malformed message on %s was ignored", CHANNEL)
            return
        self._on_change(deliveries, None if deadline is None else float(deadline))

    async def resume(self) -> None:
        """On start: the timer for what is due in the calls as they are."""
        registry = await self.snapshot()
        self._on_change([], registry.next_deadline())

    async def renew(self, ttl_s: float) -> None:
        """This node is alive for `ttl_s` more; the devices of nodes that are not are away."""
        now = time.time()
        await self._client.zadd(NODES, {str(self.node): now + ttl_s})
        await self._client.zremrangebyscore(NODES, "-inf", now)
        members = await self._client.zrange(NODES, 0, -1)
        alive = {int(n) for n in members if isinstance(n, (bytes, str))}
        registry = await self.snapshot()
        if any(node_of(p.conn) not in alive for p in _connected(registry)):
            await self.run(lambda r: (None, _away(r, alive, self._clock())))

    async def leave(self) -> None:
        """This node stops: no longer counted alive."""
        await self._client.zrem(NODES, str(self.node))


def _connected(registry: CallRegistry) -> list[Any]:
    return [
        p
        for call in registry.calls.values()
        for p in call.participants.values()
        if p.gone_since is None
    ]


def _away(registry: CallRegistry, alive: set[int], now: float) -> Notices:
    notices = Notices()
    for p in _connected(registry):
        if node_of(p.conn) not in alive:
            for room in registry.disconnected(p.conn, now).changed:
                notices.call_changed(room)
    return notices
