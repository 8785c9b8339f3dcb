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
first one to commit does what is due (the others then find nothing to do). The node that
made a change answers its caller only once it has told its own devices (`run` waits for
its publication), so a reply never overtakes the frames it follows.

A node that is killed tells nobody its devices went. Each node renews its number in
`NODES` (sorted by expiry) every few seconds and then repairs the registry (`renew`): a
seat whose device is on a node that stopped renewing is away, as if its socket had
closed, and has the rejoin grace to come back through another node; a seat of this node
whose socket is gone is away too (its close was not heard: Redis was down), and one whose
socket is live is present (this node was taken for dead). The nodes' clocks are taken to
agree (NTP): the wall-clock step handling of a lone device (clock/steps.py) does not apply.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import redis.asyncio as redis
from redis.exceptions import RedisError, WatchError

from ..chat import call_codec
from ..chat.call_frames import Delivery, render
from ..chat.call_registry import CallLimits, CallRegistry, Notices
from ..chat.call_store import CLAIM_S, OnChange, Op
from ..connection import node_of
from ..errors import Conflict, Unavailable

log = logging.getLogger(__name__)

KEY = "pychat:calls"
CHANNEL = "pychat:calls"
NODES = "pychat:nodes"  # node number -> until when it is alive (unix seconds)
NUMBERS = "pychat:node-numbers"  # each node start takes the next free one
CLAIMS = "pychat:claim:"  # + what: the node acting on it
ATTEMPTS = 50  # transactions lost to other nodes' before one gives up
ANSWER_S = 3.0  # Redis answers within this, or a call command fails `unavailable`
HEARD_S = 2.0  # a change's own publication is back within this (else the reply goes anyway)
MAX_NUMBER = 2**21 - 1  # device ids stay under 2**53 (connection.py)

T = TypeVar("T")


async def take_number(client: redis.Redis, ttl_s: float) -> int:
    """A node number no live node holds, held from now for `ttl_s` (renewed by `renew`).
    A plain counter would hand out a live node's number again after Redis lost its data."""
    for _ in range(1000):
        number = (int(await client.incr(NUMBERS)) - 1) % MAX_NUMBER + 1
        now = time.time()
        held = await client.zscore(NODES, str(number))
        if held is None or float(held) <= now:
            await client.zadd(NODES, {str(number): now + ttl_s})
            return number
    raise RuntimeError("no free node number: are a thousand nodes running?")


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
        self._heard: dict[str, asyncio.Future[None]] = {}  # own changes, until heard back
        self._one_at_a_time = asyncio.Lock()

    async def run(self, op: Op[T]) -> tuple[T, Notices]:
        try:
            # One at a time from this node: a hundred sockets closing at once would take as
            # many Redis connections and race each other's WATCH for nothing.
            async with self._one_at_a_time, asyncio.timeout(ANSWER_S):
                result, notices, change = await self._transaction(op)
        except (RedisError, OSError, TimeoutError) as e:
            log.warning("a call operation failed: Redis did not answer (%s)", e)
            raise Unavailable("Calls are not available right now; try again.") from e
        if change is not None:
            try:  # this node's devices hear the change before its caller's reply
                async with asyncio.timeout(HEARD_S):
                    await self._heard[change]
            except TimeoutError:
                log.warning("a call change was not heard back within %.0f s", HEARD_S)
            finally:
                self._heard.pop(change, None)
        return result, notices

    async def _transaction(self, op: Op[T]) -> tuple[T, Notices, str | None]:
        async with self._client.pipeline(transaction=True) as pipe:
            for attempt in range(ATTEMPTS):
                try:
                    await pipe.watch(KEY)
                    registry = call_codec.decode(await pipe.get(KEY), self._limits)
                    result, notices = op(registry)  # an error: the pipeline is reset on exit
                    if not notices:
                        await pipe.reset()  # type: ignore[no-untyped-call]
                        return result, notices, None
                    change = uuid.uuid4().hex
                    message = {
                        "id": change,
                        "deliveries": [d.as_json() for d in render(notices, registry)],
                        "deadline": registry.next_deadline(),
                    }
                    self._heard[change] = asyncio.get_running_loop().create_future()
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.set(KEY, call_codec.encode(registry))
                    pipe.publish(CHANNEL, json.dumps(message, separators=(",", ":")))
                    try:
                        await pipe.execute()
                    except BaseException:
                        self._heard.pop(change, None)
                        raise
                    return result, notices, change
                except WatchError:
                    # Another node changed the calls first: again, on its state (nodes all
                    # ticking at one deadline: spread out a little).
                    if attempt >= 2:
                        await asyncio.sleep(random.uniform(0, 0.002 * attempt))
        raise Conflict("The calls are changing too fast; try again.")

    async def snapshot(self) -> CallRegistry:
        try:
            async with asyncio.timeout(ANSWER_S):
                text = await self._client.get(KEY)
        except (RedisError, OSError, TimeoutError) as e:
            raise Unavailable("Calls are not available right now; try again.") from e
        return call_codec.decode(text, self._limits)

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
            own = self._heard.get(str(change.get("id")))
        except (ValueError, KeyError, TypeError, AttributeError):
            log.warning("a malformed message on %s was ignored", CHANNEL)
            return
        try:
            self._on_change(deliveries, None if deadline is None else float(deadline))
        finally:
            if own is not None and not own.done():
                own.set_result(None)

    async def resume(self) -> None:
        """The timer for what is due in the calls as they are (at start, and after each
        renewal: a timer lost with a failed tick is set again)."""
        registry = await self.snapshot()
        self._on_change([], registry.next_deadline())

    async def renew(self, ttl_s: float, here: Callable[[int], bool]) -> None:
        """This node is alive for `ttl_s` more (`here`: whether it holds a device now);
        then the registry is repaired (the module's docstring)."""
        now = time.time()
        await self._client.zadd(NODES, {str(self.node): now + ttl_s})
        await self._client.zremrangebyscore(NODES, "-inf", now)
        members = await self._client.zrange(NODES, 0, -1)
        alive = {int(n) for n in members if isinstance(n, (bytes, str))}
        now = self._clock()
        await self.run(lambda r: (None, _repair(r, self.node, alive, here, now)))
        await self.resume()

    async def leave(self) -> None:
        """This node stops: no longer counted alive."""
        await self._client.zrem(NODES, str(self.node))


def _repair(
    registry: CallRegistry,
    node: int,
    alive: set[int],
    here: Callable[[int], bool],
    now: float,
) -> Notices:
    notices = Notices()
    seats = [p for call in registry.calls.values() for p in call.participants.values()]
    for p in seats:
        mine = node_of(p.conn) == node
        if p.gone_since is None and (not mine and node_of(p.conn) not in alive):
            changed = registry.disconnected(p.conn, now)  # its node died
        elif p.gone_since is None and mine and not here(p.conn):
            changed = registry.disconnected(p.conn, now)  # its close was not heard
        elif p.gone_since is not None and mine and here(p.conn):
            changed = registry.back(p.conn)  # this node was taken for dead
        else:
            continue
        for room in changed.changed:  # marking away or present only changes the seat
            notices.call_changed(room)
    return notices
