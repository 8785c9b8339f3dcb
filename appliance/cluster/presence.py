"""Who is online, across every node, in Redis: a person is online while any live node holds
a socket of hers, and goes offline when the last one closes or its node dies.

Each node tells Redis when one of its people comes (her first socket on that node) and goes
(her last), and renews its whole list every `ttl_s / 3` seconds. An entry not renewed for
`ttl_s` (its node was killed, or cut off) is swept by whichever node sweeps first. Every
change of a person's state, whichever node made it, is published once on `CHANNEL`
("<user id>:1" online, "<user id>:0" offline), in the order Redis ran the scripts, so each
node can tell its own sockets.

Layout: `pychat:presence:user:<id>` is a hash node -> expiry (Redis's clock), plus the
state last published for her (field `~`), and `pychat:presence:expiry` a sorted set of
"<user>:<node>" by expiry, for the sweep. Each operation is one Lua script: a change is
published when what is true (a live node holds her, or none) differs from what was last
published, so each change is published once, whichever operation finds it, and notices
for a person strictly alternate. The scripts reach keys they compute: one Redis (or a
Sentinel pair), not Redis Cluster.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable

import redis.asyncio as redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

CHANNEL = "pychat:presence"
_USER = "pychat:presence:user:"
_EXPIRY = "pychat:presence:expiry"

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local function stamp(x) return string.format('%.6f', x) end
-- Live nodes holding the person; the hash's '~' field is what was last published for her.
local function live(user)
    local n = 0
    local entries = redis.call('HGETALL', KEYS[1] .. user)
    for i = 1, #entries, 2 do
        if entries[i] ~= '~' and tonumber(entries[i + 1]) > now then n = n + 1 end
    end
    return n
end
-- Publish her state if it is not what was last published: once per change, whoever finds it.
local function settle(user)
    local online = live(user) > 0
    local said = redis.call('HGET', KEYS[1] .. user, '~') == '1'
    if online and not said then
        redis.call('HSET', KEYS[1] .. user, '~', '1')
        redis.call('PUBLISH', KEYS[3], user .. ':1')
    elseif said and not online then
        redis.call('PUBLISH', KEYS[3], user .. ':0')
    end
    if not online and redis.call('HLEN', KEYS[1] .. user) <= 1 then
        redis.call('DEL', KEYS[1] .. user)
    elseif not online then
        redis.call('HDEL', KEYS[1] .. user, '~')
    end
end
"""
# KEYS: user prefix, expiry zset, channel. ARGV: node, ttl, user...
_COME = (
    _NOW
    + """
local node, ttl = ARGV[1], tonumber(ARGV[2])
for i = 3, #ARGV do
    local user = ARGV[i]
    redis.call('HSET', KEYS[1] .. user, node, stamp(now + ttl))
    redis.call('ZADD', KEYS[2], stamp(now + ttl), user .. ':' .. node)
    settle(user)
end
return 0
"""
)
_GO = (
    _NOW
    + """
local node = ARGV[1]
for i = 3, #ARGV do
    local user = ARGV[i]
    redis.call('HDEL', KEYS[1] .. user, node)
    redis.call('ZREM', KEYS[2], user .. ':' .. node)
    settle(user)
end
return 0
"""
)
# Renewing is _COME again: it publishes nothing for people already online. An entry whose
# hash says it was renewed meanwhile goes back into the sorted set at its new expiry.
_SWEEP = (
    _NOW
    + """
local gone = 0
for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 1000)) do
    local user, node = string.match(member, '^(%d+):(.+)$')
    redis.call('ZREM', KEYS[2], member)
    local expiry = tonumber(redis.call('HGET', KEYS[1] .. user, node))
    if expiry and expiry > now then
        redis.call('ZADD', KEYS[2], stamp(expiry), member)
    elseif expiry then
        redis.call('HDEL', KEYS[1] .. user, node)
        local was = redis.call('HGET', KEYS[1] .. user, '~') == '1'
        settle(user)
        if was and live(user) == 0 then gone = gone + 1 end
    end
end
return gone
"""
)
_ONLINE = (
    _NOW
    + """
local online = {}
for i = 1, #ARGV do
    if live(ARGV[i]) > 0 then online[#online + 1] = ARGV[i] end
end
return online
"""
)


class SharedPresence:
    def __init__(self, client: redis.Redis, node: str, *, ttl_s: float = 15.0) -> None:
        """`node`: this process's name, unique among the live nodes."""
        self._client = client
        self.node = node
        self.ttl_s = ttl_s
        self._come = client.register_script(_COME)
        self._go = client.register_script(_GO)
        self._sweep = client.register_script(_SWEEP)
        self._online = client.register_script(_ONLINE)
        self._keys = [_USER, _EXPIRY, CHANNEL]
        self.renewals = 0

    async def run(self, local_people: Callable[[], Iterable[int]]) -> None:
        """Until cancelled, every `ttl_s / 3`: renew the people this node holds sockets of,
        and sweep the entries other nodes stopped renewing."""
        while True:
            await asyncio.sleep(self.ttl_s / 3)
            try:
                await self.came(local_people())
                await self.sweep()
                self.renewals += 1
            except (RedisError, OSError) as e:  # Redis away: the next round tries again
                log.warning("renewing presence failed (%s)", e)

    async def came(self, user_ids: Iterable[int]) -> None:
        """These people's first socket on this node opened (also: the renewal of them all)."""
        args: list[str | float] = [self.node, self.ttl_s, *user_ids]
        if len(args) > 2:
            await self._come(keys=self._keys, args=args)

    async def went(self, user_ids: Iterable[int]) -> None:
        """These people's last socket on this node closed."""
        args: list[str | float] = [self.node, self.ttl_s, *user_ids]
        if len(args) > 2:
            await self._go(keys=self._keys, args=args)

    async def sweep(self) -> int:
        """Forget the entries of nodes that stopped renewing them; how many went offline."""
        return int(await self._sweep(keys=self._keys, args=[]))

    async def online(self, user_ids: Iterable[int]) -> set[int]:
        """Which of these people are online on some live node."""
        ids = list(user_ids)
        if not ids:
            return set()
        return {int(u) for u in await self._online(keys=self._keys, args=ids)}
