"""Which peers a TURN client may relay to: one decision function for every check.

CreatePermission, ChannelBind and every Send indication call :meth:`PeerPolicy.allows`
(the ``peer_filter``) on the same canonical address, so an IPv6 spelling of an IPv4
address cannot slip past a rule written for IPv4.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

log = logging.getLogger(__name__)

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network

_NAT64 = IPv6Network("64:ff9b::/96")
_SIXTOFOUR = IPv6Network("2002::/16")
_TEREDO = IPv6Network("2001::/32")
_COMPAT = IPv6Network("::/96")
_TRANSLATED = IPv6Network("::ffff:0:0:0/96")  # SIIT "IPv4-translated" (RFC 2765)

#: Always refused, whatever the configuration (checked after canonicalisation).
ALWAYS_DENIED: tuple[IPNetwork, ...] = (
    IPv4Network("0.0.0.0/8"),
    IPv4Network("169.254.0.0/16"),
    IPv4Network("224.0.0.0/4"),
    IPv4Network("240.0.0.0/4"),  # includes 255.255.255.255, the limited broadcast
    IPv6Network("::/128"),
    IPv6Network("fe80::/10"),
    IPv6Network("ff00::/8"),
    _TEREDO,
)
LOOPBACK: tuple[IPNetwork, ...] = (IPv4Network("127.0.0.0/8"), IPv6Network("::1/128"))


def canonical_address(host: str) -> IPAddress | None:
    """Parse ``host`` and unwrap IPv4 embedded in IPv6; ``None`` if it is not an IP.

    IPv4-mapped (::ffff:a.b.c.d), IPv4-translated (::ffff:0:a.b.c.d), IPv4-compatible
    (::a.b.c.d), NAT64 (64:ff9b::/96) and 6to4 (2002:AABB:CCDD::/48) become a.b.c.d.
    Teredo (2001::/32) stays IPv6 and is always denied.
    """
    try:
        addr = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(addr, IPv4Address):
        return addr
    if addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    packed = int(addr)
    if addr in _TRANSLATED or addr in _NAT64:
        return IPv4Address(packed & 0xFFFFFFFF)
    if addr in _SIXTOFOUR:
        return IPv4Address((packed >> 80) & 0xFFFFFFFF)
    if addr in _COMPAT and packed > 1:
        return IPv4Address(packed & 0xFFFFFFFF)
    return addr


@dataclass(frozen=True)
class PeerPolicy:
    """The relay policy.

    - always deny loopback (unless ``allow_loopback``), 0.0.0.0/8, ::, link-local,
      multicast, broadcast, 240/4 and Teredo;
    - the appliance's own addresses only on relay ports (client to client through us);
    - otherwise only ``allowed_networks`` (the office subnets), minus their broadcast
      addresses; everything else is denied (403).
    """

    allowed_networks: tuple[IPNetwork, ...]
    own_addresses: frozenset[IPAddress]
    relay_ports: tuple[int, int]
    allow_loopback: bool = False
    _cache: dict[tuple[str, int], str | None] = field(
        default_factory=dict, compare=False, repr=False
    )

    def __post_init__(self) -> None:
        if self.allow_loopback:
            log.warning(
                "!!! allow_loopback_peers is ON: TURN clients may relay to 127.0.0.0/8 "
                "and ::1, including this machine's own services. For tests only. !!!"
            )

    def __call__(self, host: str, port: int) -> bool:
        return self.allows(host, port)

    def allows(self, host: str, port: int) -> bool:
        """The one peer check: may a client relay to ``host``:``port``?"""
        return self.denial(host, port) is None

    def denial(self, host: str, port: int) -> str | None:
        """Why ``host``:``port`` is refused, or ``None`` if it is allowed (cached)."""
        key = (host, port)
        try:
            return self._cache[key]
        except KeyError:
            pass
        reason = self._decide(host, port)
        if len(self._cache) >= 4096:
            self._cache.clear()
        self._cache[key] = reason
        return reason

    def _decide(self, host: str, port: int) -> str | None:
        if not 0 < port <= 0xFFFF:
            return "port out of range"
        addr = canonical_address(host)
        if addr is None:
            return "not an IP address"
        if any(addr in net for net in LOOPBACK if net.version == addr.version):
            return None if self.allow_loopback else "loopback"
        for net in ALWAYS_DENIED:
            if net.version == addr.version and addr in net:
                return f"always denied ({net})"
        if addr in self.own_addresses:
            low, high = self.relay_ports
            return None if low <= port <= high else "own address outside the relay ports"
        for net in self.allowed_networks:
            if net.version != addr.version or addr not in net:
                continue
            if (
                isinstance(net, IPv4Network)
                and net.prefixlen < 31
                and addr
                in (
                    net.broadcast_address,
                    net.network_address,
                )
            ):
                return "subnet broadcast or network address"
            return None
        return "not in an allowed subnet"


def usable_networks(networks: list[IPNetwork]) -> tuple[IPNetwork, ...]:
    """Interface subnets worth allowing: not loopback, link-local or otherwise denied."""
    kept: list[IPNetwork] = []
    for net in networks:
        if net.is_loopback or net.is_link_local or net.is_multicast:
            continue
        if net.prefixlen == 0 or net in kept:
            continue
        kept.append(net)
    return tuple(kept)
