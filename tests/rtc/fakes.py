"""Test doubles for the STUN/TURN tests: an injected clock, fake relays and fake links."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field

from appliance.rtc.allocate import RelayUnavailable
from appliance.rtc.allocation import Address, FiveTuple
from appliance.rtc.credentials import NonceIssuer, RestAuth
from appliance.rtc.limits import TurnLimits
from appliance.rtc.policy import PeerPolicy
from appliance.rtc.stun_attributes import FAMILY_IPV4
from appliance.rtc.turn import TurnHandler

SECRET = b"test-secret-0123456789abcdef"
REALM = "pychat.test"
WALL_START = 1_900_000_000.0


class FakeClock:
    """Monotonic-style time that tests advance by hand."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeRelay:
    def __init__(self, address: Address, dont_fragment: bool) -> None:
        self.address = address
        self.dont_fragment = dont_fragment
        self.sent: list[tuple[bytes, Address, bool]] = []
        self.closed = False
        self._on: Callable[[bytes, Address], None] | None = None

    def start(self, on_datagram: Callable[[bytes, Address], None]) -> None:
        self._on = on_datagram

    def send(self, data: bytes, peer: Address, *, dont_fragment: bool = False) -> None:
        self.sent.append((data, peer, dont_fragment))

    def close(self) -> None:
        self.closed = True

    def deliver(self, data: bytes, peer: Address) -> None:
        """A datagram from ``peer`` arrives at the relayed address."""
        assert self._on is not None and not self.closed
        self._on(data, peer)


class FakeRelays:
    family = FAMILY_IPV4
    supports_dont_fragment = True

    def __init__(self) -> None:
        self.opened: list[FakeRelay] = []
        self.exhausted = False
        self._next_port = 24000

    def open(self, *, even_port: bool, dont_fragment: bool) -> FakeRelay:
        if self.exhausted:
            raise RelayUnavailable("test: no ports")
        port = self._next_port + (self._next_port % 2 if even_port else 0)
        self._next_port = port + 1
        relay = FakeRelay(("192.0.2.10", port), dont_fragment)
        self.opened.append(relay)
        return relay


@dataclass
class FakeLink:
    five_tuple: FiveTuple
    stream: bool = False
    sent: list[bytes] = field(default_factory=list)

    def send(self, data: bytes) -> None:
        self.sent.append(data)


def udp_link(port: int = 50000, host: str = "192.0.2.50") -> FakeLink:
    return FakeLink(FiveTuple(host, port, "192.0.2.10", 3478, "udp"))


def tcp_link(port: int = 50001, host: str = "192.0.2.50") -> FakeLink:
    return FakeLink(FiveTuple(host, port, "192.0.2.10", 3478, "tcp"), stream=True)


@dataclass
class World:
    handler: TurnHandler
    clock: FakeClock
    wall: FakeClock
    relays: FakeRelays
    policy: PeerPolicy


def make_world(limits: TurnLimits | None = None, *, allow_loopback: bool = False) -> World:
    clock = FakeClock()
    wall = FakeClock(WALL_START)
    relays = FakeRelays()
    policy = PeerPolicy(
        allowed_networks=(ipaddress.IPv4Network("198.51.100.0/24"),),
        own_addresses=frozenset({ipaddress.IPv4Address("192.0.2.10")}),
        relay_ports=(24000, 24999),
        allow_loopback=allow_loopback,
    )
    handler = TurnHandler(
        REALM,
        auth=RestAuth(SECRET, clock=wall),
        nonces=NonceIssuer(b"nonce-key", clock=clock, lifetime_s=3600),
        peer_filter=policy,
        relays=relays,
        clock=clock,
        limits=limits,
    )
    return World(handler, clock, wall, relays, policy)
