"""TurnHandler data paths: Send/Data indications and ChannelData, both directions."""

from __future__ import annotations

from appliance.rtc import datapath, stun
from appliance.rtc.limits import TurnLimits
from appliance.rtc.stun import Attr, Method, MsgClass

from .client import TurnTestClient
from .fakes import FakeLink, World, make_world, tcp_link, udp_link

PEER = ("198.51.100.7", 5000)


def allocated(world: World, link: FakeLink | None = None) -> TurnTestClient:
    client = TurnTestClient(world, link or udp_link())
    assert client.allocate().cls == MsgClass.SUCCESS
    return client


def test_send_indication_needs_a_permission(world: World) -> None:
    client = allocated(world)
    relay = world.relays.opened[0]
    client.send_indication(PEER, b"dropped")
    assert relay.sent == []
    client.create_permission(("198.51.100.7", 1))  # ports are not compared
    client.send_indication(PEER, b"hello")
    assert relay.sent == [(b"hello", PEER, False)]


def test_send_indication_checks_policy_every_time(world: World) -> None:
    client = allocated(world)
    relay = world.relays.opened[0]
    # the appliance's own address is allowed on relay ports only
    assert client.create_permission(("192.0.2.10", 24001)).cls == MsgClass.SUCCESS
    client.send_indication(("192.0.2.10", 24001), b"to another relay")
    client.send_indication(("192.0.2.10", 443), b"to the web server")
    assert [peer for _, peer, _ in relay.sent] == [("192.0.2.10", 24001)]


def test_send_indication_malformed_or_unknown_is_dropped(world: World) -> None:
    client = allocated(world)
    client.create_permission(PEER)
    relay = world.relays.opened[0]
    client.send_indication(PEER, b"x", (0x0031, b"what"))
    msg = stun.Message(Method.SEND, MsgClass.INDICATION, b"i" * 12).add(Attr.XOR_PEER_ADDRESS, PEER)
    assert client.send_raw(stun.encode(msg)) == []  # no DATA
    assert relay.sent == []
    client.send_indication(PEER, b"df", (Attr.DONT_FRAGMENT, b""))
    assert relay.sent == [(b"df", PEER, True)]
    assert world.handler.counters.dropped == 2


def test_send_indication_without_allocation_is_ignored(world: World) -> None:
    TurnTestClient(world, udp_link()).send_indication(PEER, b"nobody home")
    assert world.relays.opened == []


def test_peer_data_becomes_data_indication(world: World) -> None:
    client = allocated(world)
    client.create_permission(PEER)
    relay = world.relays.opened[0]
    relay.deliver(b"from peer", ("198.51.100.7", 6000))  # any port of a permitted IP
    frame = client.link.sent[-1]
    indication = stun.decode(frame)
    assert (indication.method, indication.cls) == (Method.DATA, MsgClass.INDICATION)
    assert indication.get_address(Attr.XOR_PEER_ADDRESS) == ("198.51.100.7", 6000)
    assert indication.get_bytes(Attr.DATA) == b"from peer"


def test_peer_data_without_permission_is_dropped(world: World) -> None:
    client = allocated(world)
    sent_before = len(client.link.sent)
    world.relays.opened[0].deliver(b"stranger", ("198.51.100.99", 1))
    assert len(client.link.sent) == sent_before


def test_channel_data_both_ways_over_udp(world: World) -> None:
    client = allocated(world)
    client.channel_bind(0x4001, PEER)
    relay = world.relays.opened[0]
    assert client.send_raw(datapath.encode_channel_data(0x4001, b"abc", pad=False)) == []
    assert client.send_raw(datapath.encode_channel_data(0x4001, b"padded", pad=True)) == []
    assert [d for d, _, _ in relay.sent] == [b"abc", b"padded"]
    relay.deliver(b"reply", PEER)
    assert client.link.sent[-1] == b"\x40\x01\x00\x05reply"  # UDP: no padding needed
    relay.deliver(b"other port", ("198.51.100.7", 5001))  # not the bound transport address
    assert stun.decode(client.link.sent[-1]).method == Method.DATA


def test_channel_data_malformed_or_unbound_is_dropped(world: World) -> None:
    client = allocated(world)
    client.channel_bind(0x4001, PEER)
    relay = world.relays.opened[0]
    assert client.send_raw(b"\x40\x01\x00\x10short") == []  # shorter than its length
    assert client.send_raw(b"\x40\x02\x00\x01x") == []  # unbound channel
    assert client.send_raw(b"\x40") == []
    assert relay.sent == []


def test_channel_data_does_not_refresh_permission(world: World) -> None:
    client = allocated(world)
    client.channel_bind(0x4001, PEER)
    relay = world.relays.opened[0]
    world.clock.advance(299)
    client.send_raw(datapath.encode_channel_data(0x4001, b"keepalive?", pad=False))
    world.clock.advance(2)  # permission (300 s) gone, channel (600 s) still bound
    sent_before = len(client.link.sent)
    relay.deliver(b"late", PEER)
    assert len(client.link.sent) == sent_before
    client.send_raw(datapath.encode_channel_data(0x4001, b"still goes", pad=False))
    assert relay.sent[-1][0] == b"still goes"  # RFC 8656 §12.6 checks only the binding


def test_tcp_channel_data_to_client_is_padded(world: World) -> None:
    client = allocated(world, tcp_link())
    client.channel_bind(0x4000, PEER)
    world.relays.opened[0].deliver(b"hello", PEER)
    assert client.link.sent[-1] == b"\x40\x00\x00\x05hello\x00\x00\x00"


def test_rate_limit_drops_excess() -> None:
    world = make_world(TurnLimits(packets_per_second=3, bytes_per_second=10_000))
    client = allocated(world)
    client.create_permission(PEER)
    relay = world.relays.opened[0]
    for i in range(5):
        client.send_indication(PEER, bytes([i]))
    assert len(relay.sent) == 3
    world.clock.advance(1)
    client.send_indication(PEER, b"later")
    assert relay.sent[-1][0] == b"later"


def test_expired_allocation_relays_nothing(world: World) -> None:
    client = allocated(world)
    client.create_permission(PEER)
    relay = world.relays.opened[0]
    world.clock.advance(600)
    relay.deliver(b"too late", PEER)
    client.send_indication(PEER, b"too late")
    assert relay.sent == []
    world.handler.sweep()
    assert relay.closed
