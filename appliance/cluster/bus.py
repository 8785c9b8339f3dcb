"""The Redis bus between nodes: "the event log has grown to seq N", nothing more.

Published after the commit, so a node woken by it finds the events it names. It carries no
event: the log is the truth (`follower`), so a notice lost while a node was away, or
while Redis restarted, costs only the delay until the next notice or the follower's timer.
After every (re)subscription the follower is woken at once, to read what it may have
missed while it was not listening.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

CHANNEL = "pychat:event-log"
RETRY_S = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0)  # between attempts to subscribe again
HEALTH_CHECK_S = 5  # a silent connection is checked (PING) after this many seconds
PUBLISH_TIMEOUT_S = 2.0  # a notice later than this is useless: the followers' timers read
# Idle 10 s, then a probe every 5 s, 3 unanswered: a dead connection is noticed in ~25 s.
KEEPALIVE = {socket.TCP_KEEPIDLE: 10, socket.TCP_KEEPINTVL: 5, socket.TCP_KEEPCNT: 3}


class RedisBus:
    def __init__(self, url: str, on_grown: Callable[[int | None], None]) -> None:
        """`on_grown(head)` is called for each notice (`head` None: after subscribing, when
        something may have been missed)."""
        self._url = url
        self._on_grown = on_grown
        self._publisher = redis.Redis.from_url(
            url, health_check_interval=HEALTH_CHECK_S, socket_connect_timeout=PUBLISH_TIMEOUT_S
        )
        self.subscribed = asyncio.Event()  # set while listening
        self._announced = 0  # the highest head asked to be published
        self._to_publish = asyncio.Event()

    def announce(self, head: int) -> None:
        """Tell the other nodes the log has grown to `head`, soon: never waits (a writer
        calls it), and a burst of commits becomes one notice of the newest head."""
        if head > self._announced:
            self._announced = head
            self._to_publish.set()

    async def run(self) -> None:
        """Publish what is announced and listen, until cancelled (or either fails: then
        both stop, and the task's end says why)."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._publish())
            group.create_task(self._listen())

    async def _publish(self) -> None:
        while True:
            await self._to_publish.wait()
            self._to_publish.clear()
            head = self._announced
            try:
                await asyncio.wait_for(
                    self._publisher.publish(CHANNEL, str(head)), PUBLISH_TIMEOUT_S
                )
            except (RedisError, OSError, TimeoutError) as e:
                # Not retried: a later notice or the followers' timers make up for it.
                log.warning("could not publish the log's head %d (%s)", head, e)

    async def _listen(self) -> None:
        """Listen, subscribing again whenever the connection is lost."""
        failures = 0
        while True:
            # No retries inside redis-py: its pubsub would reconnect and subscribe again
            # silently, and nothing would read what was missed meanwhile.
            # TCP keepalive: a connection whose other end vanished (a failover, a NAT that
            # forgot it) would otherwise be read from forever, with nothing ever arriving.
            client = redis.Redis.from_url(
                self._url,
                health_check_interval=HEALTH_CHECK_S,
                retry=Retry(NoBackoff(), 0),
                socket_keepalive=True,
                socket_keepalive_options=KEEPALIVE,
            )
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    async for message in pubsub.listen():
                        if message["type"] == "message":
                            self._on_grown(_head(message["data"]))
                        elif message["type"] == "subscribe":
                            # Redis listens from here on (not from when we asked): read
                            # whatever committed while we were not listening.
                            self.subscribed.set()
                            failures = 0
                            self._on_grown(None)
            except (RedisError, OSError) as e:
                delay = RETRY_S[min(failures, len(RETRY_S) - 1)]
                failures += 1
                log.warning("the bus is away (%s); subscribing again in %gs", e, delay)
                await asyncio.sleep(delay)
            finally:
                self.subscribed.clear()
                await client.aclose()

    async def close(self) -> None:
        await self._publisher.aclose()


def _head(data: object) -> int | None:
    if isinstance(data, bytes | str) and data.isdigit():
        return int(data)
    return None  # not ours: read the log anyway
