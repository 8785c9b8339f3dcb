"""UDP relay sockets: one per allocation, bound in the configured port range.

Sockets are bound synchronously (so the handler never awaits between its checks and
the allocation it creates) and read with ``loop.add_reader``; a send that would block
is dropped, as UDP may.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import secrets
import socket
import sys
from collections.abc import Callable

from .allocate import RelayUnavailable
from .allocation import Address
from .stun_attributes import FAMILY_IPV4, FAMILY_IPV6

log = logging.getLogger(__name__)

_MAX_BIND_TRIES = 256
_READS_PER_WAKEUP = 64
_SOCKET_BUFFER_BYTES = 1 << 20
# Linux: IP_MTU_DISCOVER with IP_PMTUDISC_DO sets the DF bit (RFC 8656 §14). Python's
# socket module does not export these names, so Linux's values are the defaults.
_HAS_DF = sys.platform.startswith("linux")
_IP_MTU_DISCOVER: int = getattr(socket, "IP_MTU_DISCOVER", 10)
_IP_PMTUDISC_DO: int = getattr(socket, "IP_PMTUDISC_DO", 2)
_IP_PMTUDISC_WANT: int = getattr(socket, "IP_PMTUDISC_WANT", 1)


class UdpRelay:
    """The relayed transport address of one allocation."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        address: Address,
        release: Callable[[int], None],
        dont_fragment: bool,
    ) -> None:
        self._loop = loop
        self._sock = sock
        self._address = address
        self._release = release
        self._dont_fragment = dont_fragment
        self._on_datagram: Callable[[bytes, Address], None] | None = None
        self._closed = False

    @property
    def address(self) -> Address:
        return self._address

    def start(self, on_datagram: Callable[[bytes, Address], None]) -> None:
        self._on_datagram = on_datagram
        self._loop.add_reader(self._sock.fileno(), self._readable)

    def _readable(self) -> None:
        on_datagram = self._on_datagram
        if on_datagram is None:
            return
        for _ in range(_READS_PER_WAKEUP):
            if self._closed:
                return
            try:
                data, addr = self._sock.recvfrom(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. ICMP errors reported on the socket
                log.debug("relay %s recv error: %s", self._address, exc)
                return
            on_datagram(data, (addr[0], addr[1]))

    def send(self, data: bytes, peer: Address, *, dont_fragment: bool = False) -> None:
        if self._closed:
            return
        toggle = dont_fragment and not self._dont_fragment and _HAS_DF
        try:
            if toggle:
                self._sock.setsockopt(socket.IPPROTO_IP, _IP_MTU_DISCOVER, _IP_PMTUDISC_DO)
            self._sock.sendto(data, peer)
        except (BlockingIOError, InterruptedError):
            pass  # the kernel buffer is full: drop, as UDP would
        except OSError as exc:
            log.debug("relay %s send to %s failed: %s", self._address, peer, exc)
        finally:
            if toggle:
                self._sock.setsockopt(socket.IPPROTO_IP, _IP_MTU_DISCOVER, _IP_PMTUDISC_WANT)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._on_datagram is not None:
            self._loop.remove_reader(self._sock.fileno())
        self._sock.close()
        self._release(self._address[1])


def grow_buffers(sock: socket.socket) -> None:
    """Room for bursts while the event loop is busy elsewhere (the kernel caps the size
    at net.core.rmem_max / wmem_max; the default socket buffer holds ~170 video packets)."""
    for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, _SOCKET_BUFFER_BYTES)
        except OSError as exc:
            log.debug("cannot grow a socket buffer: %s", exc)


class UdpRelayProvider:
    """Opens relays on ``host`` with ports in ``ports`` (inclusive)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, host: str, ports: tuple[int, int]) -> None:
        low, high = ports
        if not 1024 <= low <= high <= 65535:
            raise ValueError("turn.relay_ports: must be within 1024-65535, low <= high")
        self._loop = loop
        self._host = host
        self._ports = ports
        self._in_use: set[int] = set()
        self.family = FAMILY_IPV6 if ":" in host else FAMILY_IPV4
        self.supports_dont_fragment = self.family == FAMILY_IPV4 and _HAS_DF

    def open(self, *, even_port: bool, dont_fragment: bool) -> UdpRelay:
        low, high = self._ports
        step = 2 if even_port else 1
        first = low + (low % 2 if even_port else 0)
        count = (high - first) // step + 1
        if count <= 0:
            raise RelayUnavailable("no port of the wanted parity in the relay range")
        start = secrets.randbelow(count)
        for i in range(min(count, _MAX_BIND_TRIES)):
            port = first + ((start + i) % count) * step
            if port in self._in_use:
                continue
            sock = self._bind(port, dont_fragment)
            if sock is not None:
                self._in_use.add(port)
                return UdpRelay(self._loop, sock, (self._host, port), self._release, dont_fragment)
        raise RelayUnavailable("no free port in the relay range")

    def _bind(self, port: int, dont_fragment: bool) -> socket.socket | None:
        family = socket.AF_INET6 if self.family == FAMILY_IPV6 else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            grow_buffers(sock)
            if dont_fragment and _HAS_DF:
                sock.setsockopt(socket.IPPROTO_IP, _IP_MTU_DISCOVER, _IP_PMTUDISC_DO)
            sock.bind((self._host, port))
        except OSError as exc:
            sock.close()
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return None
            raise RelayUnavailable(f"cannot bind a relay socket: {exc.strerror}") from exc
        return sock

    def _release(self, port: int) -> None:
        self._in_use.discard(port)

    @property
    def in_use(self) -> int:
        return len(self._in_use)
