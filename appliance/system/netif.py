"""The machine's own interface addresses, read over rtnetlink (Linux, stdlib only).

Used by the TURN peer policy (the office subnets are the subnets of the device's own
interfaces), the server certificate (its SANs) and mDNS (the addresses announced).
Blocking socket I/O: call :func:`interface_addresses` from a thread inside a loop.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from ipaddress import IPv4Interface, IPv6Interface

_NLMSG = struct.Struct("=IHHII")  # len, type, flags, seq, pid
_IFADDRMSG = struct.Struct("=BBBBI")  # family, prefixlen, flags, scope, index
_RTATTR = struct.Struct("=HH")  # len, type
_RTM_NEWADDR, _RTM_GETADDR = 20, 22
_NLMSG_ERROR, _NLMSG_DONE = 2, 3
_NLM_F_REQUEST, _NLM_F_DUMP = 0x1, 0x300
_IFA_ADDRESS, _IFA_LOCAL = 1, 2

IPInterface = IPv4Interface | IPv6Interface


def _align(size: int) -> int:
    return (size + 3) & ~3


def _parse_addr_message(payload: bytes) -> IPInterface | None:
    if len(payload) < _IFADDRMSG.size:
        return None
    family, prefixlen, _, _, _ = _IFADDRMSG.unpack_from(payload)
    offset = _IFADDRMSG.size
    found: dict[int, bytes] = {}
    while offset + _RTATTR.size <= len(payload):
        rta_len, rta_type = _RTATTR.unpack_from(payload, offset)
        if rta_len < _RTATTR.size or offset + rta_len > len(payload):
            break
        found[rta_type] = payload[offset + _RTATTR.size : offset + rta_len]
        offset += _align(rta_len)
    raw = found.get(_IFA_LOCAL) or found.get(_IFA_ADDRESS)
    if raw is None:
        return None
    if family == socket.AF_INET and len(raw) == 4:
        return IPv4Interface((ipaddress.IPv4Address(raw), prefixlen))
    if family == socket.AF_INET6 and len(raw) == 16:
        return IPv6Interface((ipaddress.IPv6Address(raw), prefixlen))
    return None


def interface_addresses() -> list[IPInterface]:
    """Every address configured on this machine with its prefix (IPv4 and IPv6)."""
    request = _NLMSG.pack(
        _NLMSG.size + _IFADDRMSG.size, _RTM_GETADDR, _NLM_F_REQUEST | _NLM_F_DUMP, 1, 0
    ) + _IFADDRMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
    result: list[IPInterface] = []
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE) as sock:
        sock.settimeout(5.0)
        sock.send(request)
        while True:
            data = sock.recv(65536)
            offset = 0
            while offset + _NLMSG.size <= len(data):
                length, msg_type, _, _, _ = _NLMSG.unpack_from(data, offset)
                if length < _NLMSG.size or offset + length > len(data):
                    return result
                if msg_type == _NLMSG_DONE:
                    return result
                if msg_type == _NLMSG_ERROR:
                    raise OSError("rtnetlink refused the address dump")
                if msg_type == _RTM_NEWADDR:
                    iface = _parse_addr_message(data[offset + _NLMSG.size : offset + length])
                    if iface is not None:
                        result.append(iface)
                offset += _align(length)
