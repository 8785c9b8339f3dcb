"""TurnServer in-process on real loopback sockets, with aioice as the TURN client."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from appliance.rtc import stun
from appliance.rtc.credentials import RestAuth, make_turn_credentials
from appliance.rtc.limits import TurnLimits
from appliance.rtc.policy import PeerPolicy
from appliance.rtc.server import TurnServer
from appliance.rtc.stun import Attr, Message, Method, MsgClass

from .fakes import SECRET

aioice_turn = pytest.importorskip("aioice.turn", reason="aioice is not installed")
aioice_stun = pytest.importorskip("aioice.stun", reason="aioice is not installed")

WAIT = 5.0
RELAY_PORTS = (24000, 24999)


class Collector(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[bytes, Any]] = asyncio.Queue()
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.queue.put_nowait((data, addr))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)


class Echo(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.transport.sendto(b"echo:" + data, addr)  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
async def no_leftover_tasks() -> AsyncIterator[None]:
    """Fail a test that leaves tasks behind (its own or aioice's)."""
    yield
    current = asyncio.current_task()
    left = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
    assert not left, left


@pytest.fixture
async def echo_peer() -> AsyncIterator[tuple[str, int]]:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(Echo, local_addr=("127.0.0.1", 0))
    yield transport.get_extra_info("sockname")[:2]
    transport.close()


@pytest.fixture
async def server() -> AsyncIterator[TurnServer]:
    policy = PeerPolicy(
        allowed_networks=(), own_addresses=frozenset(), relay_ports=RELAY_PORTS,
        allow_loopback=True,
    )  # fmt: skip
    turn = TurnServer(
        "pychat.test", auth=RestAuth(SECRET), peer_filter=policy,
        listen=("127.0.0.1", 0), relay_ports=RELAY_PORTS,
    )  # fmt: skip
    await turn.start()
    yield turn
    await turn.stop()


def credentials(user_id: int = 5) -> tuple[str, str]:
    creds = make_turn_credentials(SECRET, user_id, 600, time.time(), [])
    return str(creds["username"]), str(creds["credential"])


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_aioice_relays_to_a_peer_and_back(
    server: TurnServer, echo_peer: tuple[str, int], transport: str
) -> None:
    username, password = credentials()
    turn, proto = await asyncio.wait_for(
        aioice_turn.create_turn_endpoint(
            Collector, server.address, username, password, transport=transport
        ),
        WAIT,
    )
    relayed = turn.get_extra_info("sockname")
    assert relayed[0] == "127.0.0.1" and RELAY_PORTS[0] <= relayed[1] <= RELAY_PORTS[1]
    for i in range(5):
        turn.sendto(f"ping {i}".encode(), echo_peer)
        data, addr = await asyncio.wait_for(proto.queue.get(), WAIT)
        assert data == f"echo:ping {i}".encode() and tuple(addr) == echo_peer
    assert len(server.handler.table) == 1
    turn.close()
    await asyncio.wait_for(proto.lost, WAIT)
    assert len(server.handler.table) == 0  # aioice deletes with Refresh(LIFETIME=0)


async def test_two_aioice_clients_talk_relay_to_relay(server: TurnServer) -> None:
    endpoints = []
    for user_id in (1, 2):
        username, password = credentials(user_id)
        endpoints.append(
            await asyncio.wait_for(
                aioice_turn.create_turn_endpoint(Collector, server.address, username, password),
                WAIT,
            )
        )
    (a, a_proto), (b, b_proto) = endpoints
    a_addr, b_addr = a.get_extra_info("sockname"), b.get_extra_info("sockname")
    # aioice only binds channels (which install permissions), so a datagram is dropped
    # until the receiving side has bound towards the sender: retransmit, as over UDP.
    b.sendto(b"hello a", a_addr)
    assert await send_until_received(a, b_proto, b"hello b", b_addr) == b"hello b"
    assert await send_until_received(b, a_proto, b"hello a", a_addr) == b"hello a"
    for turn, proto in endpoints:
        turn.close()
        await asyncio.wait_for(proto.lost, WAIT)


async def send_until_received(
    sender: Any, receiver: Collector, data: bytes, addr: tuple[str, int], tries: int = 10
) -> bytes:
    for _ in range(tries):
        sender.sendto(data, addr)
        try:
            received, _ = await asyncio.wait_for(receiver.queue.get(), 0.5)
        except TimeoutError:
            continue
        return bytes(received)
    raise AssertionError("nothing arrived")


async def test_aioice_with_a_wrong_password_is_refused(server: TurnServer) -> None:
    username, _ = credentials()
    with pytest.raises(aioice_stun.TransactionFailed, match="401"):
        await asyncio.wait_for(
            aioice_turn.create_turn_endpoint(Collector, server.address, username, "bad"), WAIT
        )
    assert len(server.handler.table) == 0


async def _udp_exchange(address: tuple[str, int], data: bytes) -> bytes:
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(Collector, remote_addr=address)
    try:
        transport.sendto(data)
        reply, _ = await asyncio.wait_for(proto.queue.get(), WAIT)
        return reply
    finally:
        transport.close()


async def test_binding_over_udp_and_tcp_on_the_same_port(server: TurnServer) -> None:
    request = stun.encode(Message(Method.BINDING, MsgClass.REQUEST, os.urandom(12)))
    reply = stun.decode(await _udp_exchange(server.address, request))
    assert reply.cls == MsgClass.SUCCESS
    assert reply.get_address(Attr.XOR_MAPPED_ADDRESS)[0] == "127.0.0.1"  # type: ignore[index]
    reader, writer = await asyncio.open_connection(*server.address)
    try:
        # a frame split across writes is reassembled
        writer.write(request[:7])
        await writer.drain()
        writer.write(request[7:])
        head = await asyncio.wait_for(reader.readexactly(20), WAIT)
        body = await asyncio.wait_for(reader.readexactly(int.from_bytes(head[2:4], "big")), WAIT)
        reply = stun.decode(head + body)
        assert reply.get_address(Attr.XOR_MAPPED_ADDRESS) == writer.get_extra_info("sockname")
        # bytes that are neither STUN nor ChannelData end the connection
        writer.write(b"\x16\x03\x01\x02\x00")
        assert await asyncio.wait_for(reader.read(), WAIT) == b""
    finally:
        writer.close()


async def test_stop_frees_listeners_and_relays(echo_peer: tuple[str, int]) -> None:
    policy = PeerPolicy(
        allowed_networks=(), own_addresses=frozenset(), relay_ports=RELAY_PORTS,
        allow_loopback=True,
    )  # fmt: skip
    turn = TurnServer(
        "pychat.test", auth=RestAuth(SECRET), peer_filter=policy,
        listen=("127.0.0.1", 0), relay_ports=RELAY_PORTS,
    )  # fmt: skip
    await turn.start()
    username, password = credentials()
    client, proto = await asyncio.wait_for(
        aioice_turn.create_turn_endpoint(
            Collector, turn.address, username, password, transport="tcp"
        ),
        WAIT,
    )
    relay_port = client.get_extra_info("sockname")[1]
    address = turn.address
    await turn.stop()
    await asyncio.wait_for(proto.lost, WAIT)  # the TCP connection was closed
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as probe:
            # SO_REUSEADDR passes TIME_WAIT leftovers but not a listening socket
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)  # the listening port is free again
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", relay_port))  # and so is the relay port
    client.close()


def test_server_needs_a_relay_address_on_wildcard() -> None:
    policy = PeerPolicy(allowed_networks=(), own_addresses=frozenset(), relay_ports=RELAY_PORTS)
    with pytest.raises(ValueError, match=r"turn\.relay_address"):
        TurnServer("r", auth=RestAuth(SECRET), peer_filter=policy, listen=("0.0.0.0", 3478))


async def test_tcp_idle_and_connection_limits() -> None:
    policy = PeerPolicy(allowed_networks=(), own_addresses=frozenset(), relay_ports=RELAY_PORTS)
    turn = TurnServer(
        "pychat.test", auth=RestAuth(SECRET), peer_filter=policy, listen=("127.0.0.1", 0),
        relay_ports=RELAY_PORTS,
        limits=TurnLimits(max_tcp_connections=1, tcp_idle_timeout_s=0.2),
    )  # fmt: skip
    await turn.start()
    try:
        reader, writer = await asyncio.open_connection(*turn.address)
        extra_reader, extra_writer = await asyncio.open_connection(*turn.address)
        # over the connection limit: closed at once
        assert await asyncio.wait_for(extra_reader.read(), WAIT) == b""
        extra_writer.close()
        # no allocation within tcp_idle_timeout_s: closed by the server
        assert await asyncio.wait_for(reader.read(), WAIT) == b""
        writer.close()
    finally:
        await turn.stop()
