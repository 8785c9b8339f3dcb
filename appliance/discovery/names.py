"""Device names on the LAN: the naming rule, and finding out whether another device claims one.

A name `office` stands for the host `office.local` and the service instances
`office._pychat._tcp.local` and `office._https._tcp.local`. Another device *claims* it when it
answers for `office.local` with an address that is not ours, or for one of those instances
with another host as the target (RFC 6762 §8 probing, §9 conflict resolution).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from ipaddress import ip_address
from typing import TYPE_CHECKING

from zeroconf import RecordUpdate, RecordUpdateListener, Zeroconf, current_time_millis

if TYPE_CHECKING:  # zeroconf re-exports these without listing them in __all__
    from zeroconf._dns import DNSAddress, DNSQuestion, DNSRecord, DNSService
    from zeroconf._protocol.outgoing import DNSOutgoing
else:
    from zeroconf import DNSAddress, DNSOutgoing, DNSQuestion, DNSRecord, DNSService

# Re-exported: callers of this module find them here too.
from .addresses import IPAddress as IPAddress
from .addresses import lan_addresses as lan_addresses

PYCHAT_SERVICE = "_pychat._tcp.local."
HTTPS_SERVICE = "_https._tcp.local."
SERVICE_TYPES = (PYCHAT_SERVICE, HTTPS_SERVICE)
DEFAULT_NAME = "pychat"

# RFC 1035 §3.2.2 and RFC 6762 §18: the few wire constants a probe needs.
TYPE_A, TYPE_AAAA, TYPE_SRV = 1, 28, 33
CLASS_IN, CLASS_UNIQUE = 1, 0x8000
FLAGS_QUERY, FLAGS_RESPONSE_AA = 0x0000, 0x8400

# RFC 6762 §8.1: three probes, 250 ms apart.
PROBES = 3
PROBE_INTERVAL_S = 0.25

_MAX_LABEL = 63


def with_suffix(base: str, number: int) -> str:
    """`base` for 1, else `base-<number>`, shortening `base` so the label stays valid."""
    if number <= 1:
        return base
    suffix = f"-{number}"
    return base[: _MAX_LABEL - len(suffix)].rstrip("-") + suffix


@dataclass(frozen=True)
class Claim:
    """Evidence that another device uses a name: its address, or its service's host."""

    address: IPAddress | None = None
    server: str | None = None


def yields_to(claim: Claim, our_addresses: Collection[IPAddress], our_host: str) -> bool:
    """Whether we give the name up to `claim` (RFC 6762 §8.2 in spirit: the greater wins).

    Both devices apply the same total order, so exactly one of them yields: by address, the
    device holding the greatest address keeps the name; by service, the greater host name.
    """
    if claim.address is not None:
        return not our_addresses or _order(claim.address) > max(map(_order, our_addresses))
    return claim.server is not None and claim.server > our_host


def _order(addr: IPAddress) -> tuple[int, bytes]:
    return addr.version, addr.packed


class ClaimWatch(RecordUpdateListener):
    """Calls `on_claim` for every record in which another device claims `name`.

    `own` is read at each record, so the caller may keep adding its addresses to it.
    """

    def __init__(
        self, name: str, own: Collection[IPAddress], on_claim: Callable[[Claim], None]
    ) -> None:
        self.host = f"{name}.local."
        self.instances = frozenset(f"{name}.{kind}" for kind in SERVICE_TYPES)
        self._own = own
        self._on_claim = on_claim

    def consider(self, record: DNSRecord) -> None:
        if record.ttl == 0:  # RFC 6762 §10.1: a goodbye, not a claim
            return
        if isinstance(record, DNSAddress) and record.key == self.host:
            addr = ip_address(record.address)
            if addr not in self._own:
                self._on_claim(Claim(address=addr))
        elif (
            isinstance(record, DNSService)
            and record.key in self.instances
            and record.server_key != self.host
        ):
            self._on_claim(Claim(server=record.server_key))

    def scan_cache(self, zc: Zeroconf) -> None:
        now = current_time_millis()
        for key in (self.host, *self.instances):
            for record in list(zc.cache.async_entries_with_name(key)):
                if not record.is_expired(now):
                    self.consider(record)

    def async_update_records(self, zc: Zeroconf, now: float, records: list[RecordUpdate]) -> None:
        for update in records:
            self.consider(update.new)


def probe_query(name: str, *, unicast: bool = False) -> DNSOutgoing:
    """Questions for `<name>.local` (A, AAAA) and the name's service instances (SRV)."""
    out = DNSOutgoing(FLAGS_QUERY)
    host = f"{name}.local."
    qclass = CLASS_IN | (CLASS_UNIQUE if unicast else 0)  # the top bit asks for unicast (QU)
    out.add_question(DNSQuestion(host, TYPE_A, qclass))
    out.add_question(DNSQuestion(host, TYPE_AAAA, qclass))
    for kind in SERVICE_TYPES:
        out.add_question(DNSQuestion(f"{name}.{kind}", TYPE_SRV, qclass))
    return out


def goodbye(name: str, addresses: Iterable[IPAddress]) -> DNSOutgoing:
    """RFC 6762 §10.1: address records of `<name>.local` with TTL 0, for addresses we lost."""
    out = DNSOutgoing(FLAGS_RESPONSE_AA)
    for addr in addresses:
        kind = TYPE_A if addr.version == 4 else TYPE_AAAA
        record = DNSAddress(f"{name}.local.", kind, CLASS_IN | CLASS_UNIQUE, 0, addr.packed)
        out.add_answer_at_time(record, 0)
    return out


async def claimed(zc: Zeroconf, name: str, own: Collection[IPAddress], window: float) -> bool:
    """Whether another device claims `name`: cached records, then probes for `window` s."""
    await zc.async_wait_for_start()  # probes sent before the sockets exist would be lost
    found = asyncio.Event()
    watch = ClaimWatch(name, own, lambda _claim: found.set())
    zc.async_add_listener(watch, None)
    try:
        watch.scan_cache(zc)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + window
        sent = 0
        while not found.is_set():
            if sent < PROBES:
                # RFC 6762 §8.1: the first probe asks for unicast answers (QU), which a
                # defender may send at once; multicast ones can be rate limited by a second.
                zc.async_send(probe_query(name, unicast=sent == 0))
                sent += 1
            remaining = deadline - loop.time()
            wait = min(PROBE_INTERVAL_S, remaining) if sent < PROBES else remaining
            if wait <= 0:
                break
            try:
                await asyncio.wait_for(found.wait(), wait)
            except TimeoutError:
                continue
        return found.is_set()
    finally:
        zc.async_remove_listener(watch)
