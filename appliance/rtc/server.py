"""TurnServer: UDP and TCP listeners that only frame and feed one TurnHandler.

Usable in-process (``await server.start()`` / ``await server.stop()``, port 0 picks a
free port shared by UDP and TCP) and from the command line (``cli.py``).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
import time
from collections.abc import Callable
from typing import cast

from . import datapath
from .allocation import Address, FiveTuple
from .credentials import NonceIssuer
from .limits import TurnLimits
from .relay import UdpRelayProvider, grow_buffers
from .stun_attributes import StunError
from .turn import Authenticator, PeerFilter, TurnHandler

log = logging.getLogger(__name__)

_SWEEP_INTERVAL_S = 1.0
_MAX_UDP_LINKS = 8192
_MAX_STREAM_BUFFER = 20 + 0xFFFF + 4
_READS_PER_WAKEUP = 64


class UdpLink:
    """A client reached over the UDP listener."""

    __slots__ = ("_addr", "_sock", "five_tuple")

    def __init__(self, sock: socket.socket, five_tuple: FiveTuple) -> None:
        self._sock = sock
        self._addr = five_tuple.client
        self.five_tuple = five_tuple

    @property
    def stream(self) -> bool:
        return False

    def send(self, data: bytes) -> None:
        try:
            self._sock.sendto(data, self._addr)
        except (BlockingIOError, InterruptedError):
            pass  # the kernel buffer is full: drop, as UDP would
        except OSError as exc:
            log.debug("TURN UDP send to %s failed: %s", self._addr, exc)


class _UdpListener:
    """The UDP listener reads straight from its socket, draining several datagrams per
    wakeup: asyncio's datagram transport costs one loop iteration per packet, and this
    socket carries every client's media."""

    def __init__(
        self, server: TurnServer, sock: socket.socket, loop: asyncio.AbstractEventLoop
    ) -> None:
        self._server = server
        self._sock = sock
        self._loop = loop
        sockname = sock.getsockname()
        self.local: Address = (sockname[0], sockname[1])
        self._links: dict[Address, UdpLink] = {}
        loop.add_reader(sock.fileno(), self._readable)

    def _readable(self) -> None:
        handle = self._server.handler.handle
        links = self._links
        recvfrom = self._sock.recvfrom
        for _ in range(_READS_PER_WAKEUP):
            try:
                data, addr = recvfrom(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.debug("TURN UDP listener error: %s", exc)
                return
            key = (addr[0], addr[1])
            link = links.get(key)
            if link is None:
                if len(links) >= _MAX_UDP_LINKS:
                    links.clear()
                five_tuple = FiveTuple(key[0], key[1], self.local[0], self.local[1], "udp")
                link = links[key] = UdpLink(self._sock, five_tuple)
            handle(data, link)

    def close(self) -> None:
        self._loop.remove_reader(self._sock.fileno())
        self._sock.close()


def _udp_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        grow_buffers(sock)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


class _TcpConnection(asyncio.Protocol):
    """One TCP client: STUN and padded ChannelData frames on a byte stream."""

    def __init__(self, server: TurnServer) -> None:
        self._server = server
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._idle: asyncio.TimerHandle | None = None
        self.five_tuple = FiveTuple("", 0, "", 0, "tcp")

    @property
    def stream(self) -> bool:
        return True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)
        self._transport = transport
        peer = transport.get_extra_info("peername")
        local = transport.get_extra_info("sockname")
        self.five_tuple = FiveTuple(peer[0], peer[1], local[0], local[1], "tcp")
        if not self._server._admit(self):
            transport.abort()
            return
        self._arm_idle()

    def _arm_idle(self) -> None:
        loop = asyncio.get_running_loop()
        self._idle = loop.call_later(self._server.limits.tcp_idle_timeout_s, self._idle_check)

    def _idle_check(self) -> None:
        handler = self._server.handler
        if handler.table.get(self.five_tuple, self._server.clock()) is None:
            log.debug("TURN TCP %s closed: no allocation", self.five_tuple.client)
            if self._transport is not None:
                self._transport.close()
            return
        self._arm_idle()

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        handler = self._server.handler
        while len(buffer) >= 4:
            try:
                size = datapath.stream_frame_length(buffer)
            except StunError:
                log.debug("TURN TCP %s sent an unframeable stream", self.five_tuple.client)
                if self._transport is not None:
                    self._transport.abort()
                return
            if len(buffer) < size:
                break
            frame = bytes(buffer[:size])
            del buffer[:size]
            handler.handle(frame, self)
            if self._transport is None or self._transport.is_closing():
                return
        if len(buffer) > _MAX_STREAM_BUFFER and self._transport is not None:
            self._transport.abort()  # cannot happen with valid framing

    def send(self, data: bytes) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if transport.get_write_buffer_size() > self._server.limits.tcp_write_buffer_bytes:
            return  # a slow reader loses relayed data rather than growing our memory
        transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._idle is not None:
            self._idle.cancel()
        self._server._forget(self)
        self._server.handler.connection_closed(self.five_tuple)
        self._transport = None


class TurnServer:
    """STUN/TURN on UDP and TCP (same port), relaying over UDP only.

    ``auth`` checks usernames (``RestAuth``); ``peer_filter`` is the relay policy
    (``PeerPolicy``); ``clock`` is monotonic time for lifetimes and nonces.
    """

    def __init__(
        self,
        realm: str,
        *,
        auth: Authenticator,
        peer_filter: PeerFilter,
        clock: Callable[[], float] = time.monotonic,
        listen: Address = ("127.0.0.1", 3478),
        relay_host: str | None = None,
        relay_ports: tuple[int, int] = (49152, 65535),
        limits: TurnLimits | None = None,
        nonce_key: bytes | None = None,
        udp: bool = True,
        tcp: bool = True,
    ) -> None:
        if not (udp or tcp):
            raise ValueError("turn: enable UDP, TCP or both")
        if relay_host is None:
            if listen[0] in ("", "0.0.0.0", "::"):  # noqa: S104 (a check, not a bind)
                raise ValueError("turn.relay_address: required when listening on all addresses")
            relay_host = listen[0]
        self.realm = realm
        self.clock = clock
        self.limits = limits or TurnLimits()
        self._auth = auth
        self._peer_filter = peer_filter
        self._listen = listen
        self._relay_host = relay_host
        self._relay_ports = relay_ports
        self._nonces = NonceIssuer(
            nonce_key or secrets.token_bytes(32),
            clock=clock,
            lifetime_s=self.limits.nonce_lifetime_s,
        )
        self._want_udp = udp
        self._want_tcp = tcp
        self._udp: _UdpListener | None = None
        self._tcp: asyncio.Server | None = None
        self._connections: set[_TcpConnection] = set()
        self._sweeper: asyncio.TimerHandle | None = None
        self._handler: TurnHandler | None = None
        self.address: Address = listen

    @property
    def handler(self) -> TurnHandler:
        if self._handler is None:
            raise RuntimeError("TurnServer is not started")
        return self._handler

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        relays = UdpRelayProvider(loop, self._relay_host, self._relay_ports)
        self._handler = TurnHandler(
            self.realm,
            auth=self._auth,
            nonces=self._nonces,
            peer_filter=self._peer_filter,
            relays=relays,
            clock=self.clock,
            limits=self.limits,
        )
        host, port = self._listen
        for attempt in range(8):
            try:
                await self._bind(loop, host, port)
                break
            except OSError:
                await self._close_listeners()
                if port != 0 or attempt == 7:
                    raise
        self._sweeper = loop.call_later(_SWEEP_INTERVAL_S, self._sweep)
        log.info(
            "TURN server on %s:%d (%s), relay %s ports %d-%d",
            *self.address,
            "+".join(n for n, on in (("udp", self._udp), ("tcp", self._tcp)) if on),
            self._relay_host,
            *self._relay_ports,
        )

    async def _bind(self, loop: asyncio.AbstractEventLoop, host: str, port: int) -> None:
        if self._want_udp:
            self._udp = _UdpListener(self, _udp_socket(host, port), loop)
            port = self._udp.local[1]
        if self._want_tcp:
            self._tcp = await loop.create_server(
                lambda: _TcpConnection(self), host, port, reuse_address=True, backlog=128
            )
            port = self._tcp.sockets[0].getsockname()[1]
        self.address = (host, port)

    def _sweep(self) -> None:
        if self._handler is not None:
            self._handler.sweep()
        self._sweeper = asyncio.get_running_loop().call_later(_SWEEP_INTERVAL_S, self._sweep)

    def _admit(self, conn: _TcpConnection) -> bool:
        if len(self._connections) >= self.limits.max_tcp_connections:
            log.warning("TURN TCP connection from %s refused: too many", conn.five_tuple.client)
            return False
        self._connections.add(conn)
        return True

    def _forget(self, conn: _TcpConnection) -> None:
        self._connections.discard(conn)

    async def _close_listeners(self) -> None:
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._tcp is not None:
            self._tcp.close()
            await self._tcp.wait_closed()
            self._tcp = None

    async def stop(self) -> None:
        """Close listeners, every TCP connection and every allocation's relay."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        tcp = self._tcp
        if tcp is not None:
            tcp.close()
        for conn in list(self._connections):
            if conn._transport is not None:
                conn._transport.abort()
        await self._close_listeners()
        if self._handler is not None:
            self._handler.close()
        # Let transports run their connection_lost callbacks before returning.
        await asyncio.sleep(0)
