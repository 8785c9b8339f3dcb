"""The addresses worth announcing on the LAN, without zeroconf (the admin's device page
reads them where mDNS is off, and the server never imports zeroconf there)."""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Address, IPv6Address

from ..system.netif import IPInterface

IPAddress = IPv4Address | IPv6Address


def lan_addresses(
    interfaces: Iterable[IPInterface],
) -> tuple[tuple[IPv4Address, ...], tuple[IPv6Address, ...]]:
    """The addresses worth announcing: every IPv4 and routable IPv6 address but loopback.

    IPv6 link-local addresses are left out: without a zone index a browser cannot use them.
    """
    v4: set[IPv4Address] = set()
    v6: set[IPv6Address] = set()
    for iface in interfaces:
        addr = iface.ip
        if addr.is_loopback or addr.is_multicast or addr.is_unspecified:
            continue
        if isinstance(addr, IPv4Address):
            v4.add(addr)
        elif not addr.is_link_local:
            v6.add(addr)
    return tuple(sorted(v4)), tuple(sorted(v6))
