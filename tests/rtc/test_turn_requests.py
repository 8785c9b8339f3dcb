"""TurnHandler requests: authentication, Allocate, Refresh, CreatePermission, ChannelBind.

Time is injected: tests advance FakeClock instead of sleeping.
"""

from __future__ import annotations

from appliance.rtc import stun
from appliance.rtc.limits import TurnLimits
from appliance.rtc.stun import Attr, Message, Method, MsgClass
from appliance.rtc.stun_attributes import AddressErrorCode

from .client import TurnTestClient, error_code
from .fakes import REALM, World, make_world, tcp_link, udp_link

PEER = ("198.51.100.7", 5000)


def test_binding_needs_no_credentials(world: World) -> None:
    client = TurnTestClient(world, udp_link())
    reply = client.request(Method.BINDING, auth=False, fingerprint=True)
    assert reply.cls == MsgClass.SUCCESS
    assert reply.get_address(Attr.XOR_MAPPED_ADDRESS) == ("192.0.2.50", 50000)
    assert reply.has_fingerprint  # mirrored from the request


def test_binding_with_unknown_required_attribute_gets_420(world: World) -> None:
    client = TurnTestClient(world, udp_link())
    reply = client.request(Method.BINDING, [(0x0003, b"\0\0\0\0")], auth=False)
    assert error_code(reply) == 420
    assert reply.get(Attr.UNKNOWN_ATTRIBUTES) == (0x0003,)


def test_unauthenticated_allocate_is_challenged(world: World) -> None:
    reply = TurnTestClient(world, udp_link()).challenge()
    assert reply.get_str(Attr.REALM) == REALM
    assert reply.get_str(Attr.NONCE)
    assert reply.integrity_offset is None  # no key yet, no MESSAGE-INTEGRITY


def test_allocate_success_carries_relay_mapped_lifetime(world: World) -> None:
    client = TurnTestClient(world, udp_link())
    reply = client.allocate((Attr.LIFETIME, 1200))
    assert reply.cls == MsgClass.SUCCESS
    assert reply.get_address(Attr.XOR_RELAYED_ADDRESS) == world.relays.opened[0].address
    assert reply.get_address(Attr.XOR_MAPPED_ADDRESS) == ("192.0.2.50", 50000)
    assert reply.get_int(Attr.LIFETIME) == 1200
    assert len(world.handler.table) == 1


def test_allocate_lifetime_is_clamped(world: World) -> None:
    assert (
        TurnTestClient(world, udp_link(1)).allocate((Attr.LIFETIME, 99999)).get_int(Attr.LIFETIME)
        == 3600
    )
    assert (
        TurnTestClient(world, udp_link(2)).allocate((Attr.LIFETIME, 30)).get_int(Attr.LIFETIME)
        == 600
    )
    assert TurnTestClient(world, udp_link(3)).allocate().get_int(Attr.LIFETIME) == 600


def test_allocate_retransmission_is_idempotent(world: World) -> None:
    client = TurnTestClient(world, udp_link())
    tid = b"0123456789ab"
    first = client.allocate(transaction_id=tid)
    again = client.allocate(transaction_id=tid)
    assert again.cls == MsgClass.SUCCESS
    assert again.get_address(Attr.XOR_RELAYED_ADDRESS) == first.get_address(
        Attr.XOR_RELAYED_ADDRESS
    )
    assert len(world.relays.opened) == 1


def test_second_allocate_on_same_5_tuple_is_437(world: World) -> None:
    client = TurnTestClient(world, udp_link())
    client.allocate()
    assert error_code(client.allocate()) == 437
    other_user = TurnTestClient(world, client.link, user_id=8)
    assert error_code(other_user.allocate()) == 437  # RFC 8656 §7.2 step 2
    assert len(world.relays.opened) == 1


def test_other_user_on_the_5_tuple_gets_441(world: World) -> None:
    client = TurnTestClient(world, udp_link())
    client.allocate()
    intruder = TurnTestClient(world, client.link, user_id=8)
    assert error_code(intruder.refresh(600)) == 441
    assert error_code(intruder.create_permission(PEER)) == 441
    assert error_code(intruder.channel_bind(0x4000, PEER)) == 441


def test_requested_transport_checks(world: World) -> None:
    client = TurnTestClient(world, udp_link())
    assert error_code(client.request(Method.ALLOCATE, [])) == 400
    tcp = client.request(Method.ALLOCATE, [(Attr.REQUESTED_TRANSPORT, 6)])
    assert error_code(tcp) == 442  # RFC 6062 TCP allocations are refused
    assert not world.relays.opened


def test_address_family_and_reservation_checks(world: World) -> None:
    client = TurnTestClient(world, udp_link())
    assert error_code(client.allocate((Attr.REQUESTED_ADDRESS_FAMILY, 0x02))) == 440
    both = client.allocate((Attr.REQUESTED_ADDRESS_FAMILY, 1), (Attr.ADDITIONAL_ADDRESS_FAMILY, 2))
    assert error_code(both) == 400
    assert error_code(client.allocate((Attr.ADDITIONAL_ADDRESS_FAMILY, 1))) == 400
    assert error_code(client.allocate((Attr.RESERVATION_TOKEN, b"12345678"))) == 508
    token_and_even = client.allocate((Attr.RESERVATION_TOKEN, b"12345678"), (Attr.EVEN_PORT, 0))
    assert error_code(token_and_even) == 400
    assert error_code(client.allocate((Attr.EVEN_PORT, 0x80))) == 508
    dual = client.allocate((Attr.ADDITIONAL_ADDRESS_FAMILY, 2), (Attr.EVEN_PORT, 0))
    assert dual.cls == MsgClass.SUCCESS
    assert dual.get(Attr.ADDRESS_ERROR_CODE) == AddressErrorCode(2, 440, stun.REASONS[440])
    assert world.relays.opened[0].address[1] % 2 == 0


def test_dont_fragment_is_honoured_or_420(world: World) -> None:
    client = TurnTestClient(world, udp_link(1))
    assert client.allocate((Attr.DONT_FRAGMENT, b"")).cls == MsgClass.SUCCESS
    assert world.relays.opened[0].dont_fragment
    world.relays.supports_dont_fragment = False
    other = TurnTestClient(world, udp_link(2))
    reply = other.allocate((Attr.DONT_FRAGMENT, b""))
    assert error_code(reply) == 420
    assert reply.get(Attr.UNKNOWN_ATTRIBUTES) == (Attr.DONT_FRAGMENT,)


def test_unknown_comprehension_required_attribute_in_allocate(world: World) -> None:
    client = TurnTestClient(world, udp_link())
    reply = client.allocate((0x0030, b"abcd"), (0x8030, b"ignored"))
    assert error_code(reply) == 420
    assert reply.get(Attr.UNKNOWN_ATTRIBUTES) == (0x0030,)


def test_quotas_per_user_and_total() -> None:
    world = make_world(TurnLimits(max_allocations=3, max_allocations_per_user=2))
    assert TurnTestClient(world, udp_link(1)).allocate().cls == MsgClass.SUCCESS
    assert TurnTestClient(world, udp_link(2)).allocate().cls == MsgClass.SUCCESS
    assert error_code(TurnTestClient(world, udp_link(3)).allocate()) == 486
    assert TurnTestClient(world, udp_link(4), user_id=9).allocate().cls == MsgClass.SUCCESS
    assert error_code(TurnTestClient(world, udp_link(5), user_id=10).allocate()) == 508


def test_no_relay_port_left_is_508(world: World) -> None:
    world.relays.exhausted = True
    assert error_code(TurnTestClient(world, udp_link()).allocate()) == 508


def test_refresh_clamps_and_zero_deletes(world: World) -> None:
    client = TurnTestClient(world, udp_link())
    client.allocate()
    assert client.refresh(100000).get_int(Attr.LIFETIME) == 3600
    assert client.refresh().get_int(Attr.LIFETIME) == 600
    assert error_code(client.request(Method.REFRESH, [(Attr.REQUESTED_ADDRESS_FAMILY, 2)])) == 443
    reply = client.refresh(0)
    assert reply.cls == MsgClass.SUCCESS and reply.get_int(Attr.LIFETIME) == 0
    assert len(world.handler.table) == 0
    assert world.relays.opened[0].closed  # deleted at once
    assert error_code(client.refresh(0)) == 437  # a retransmitted delete


def test_allocation_expires_with_the_injected_clock(world: World) -> None:
    client = TurnTestClient(world, udp_link())
    client.allocate()
    world.clock.advance(599)
    world.handler.sweep()
    assert len(world.handler.table) == 1
    world.clock.advance(1)
    assert error_code(client.refresh(600)) == 437
    assert world.relays.opened[0].closed


def test_stale_nonce_gets_438_with_a_fresh_nonce(world: World) -> None:
    client = TurnTestClient(world, udp_link())
    client.allocate((Attr.LIFETIME, 3600))
    old_nonce = client.nonce
    world.clock.advance(3000)
    assert client.refresh(3600).cls == MsgClass.SUCCESS
    world.clock.advance(601)  # the nonce is now 3601 s old; the allocation lives on
    reply = client.refresh(3600)
    assert error_code(reply) == 438
    assert reply.get_str(Attr.REALM) == REALM
    assert client.nonce != old_nonce  # the client helper took the fresh one
    assert client.refresh(3600).cls == MsgClass.SUCCESS


def test_forged_or_foreign_nonce_is_not_accepted(world: World) -> None:
    client = TurnTestClient(world, udp_link(1))
    client.challenge()
    client.nonce = "0.0.00000000000000000000000000000000"
    assert error_code(client.allocate()) == 438
    thief = TurnTestClient(world, udp_link(2))
    thief.challenge()
    thief.nonce = client.nonce = TurnTestClient(world, udp_link(3)).challenge().get_str(Attr.NONCE)
    assert error_code(thief.allocate()) == 438  # nonces are bound to the client address


def test_wrong_password_expired_credential_and_wrong_realm_get_401(world: World) -> None:
    client = TurnTestClient(world, udp_link())
    client.challenge()
    client.password = "not-the-password"
    assert error_code(client.allocate()) == 401
    expired = TurnTestClient(world, udp_link(2), ttl=10)
    world.wall.advance(11)
    assert error_code(expired.allocate()) == 401
    other_realm = TurnTestClient(world, udp_link(3))
    other_realm.challenge()
    other_realm.realm = "elsewhere"
    assert error_code(other_realm.allocate()) == 401
    assert not world.relays.opened


def test_integrity_without_username_is_400(world: World) -> None:
    client = TurnTestClient(world, udp_link())
    msg = Message(Method.ALLOCATE, MsgClass.REQUEST, b"x" * 12).add(Attr.REQUESTED_TRANSPORT, 17)
    reply = stun.decode(client.send_raw(stun.encode(msg, key=b"k" * 16))[0])
    assert error_code(reply) == 400
    assert reply.integrity_offset is None


def test_sha256_integrity_is_mirrored(world: World) -> None:
    client = TurnTestClient(world, udp_link())
    reply = client.request(
        Method.ALLOCATE, [(Attr.REQUESTED_TRANSPORT, 17)], sha256=True, fingerprint=True
    )
    assert reply.cls == MsgClass.SUCCESS
    assert reply.integrity_sha256_offset is not None and reply.integrity_offset is None
    assert reply.has_fingerprint


def test_create_permission_checks_and_policy(world: World) -> None:
    client = TurnTestClient(world, udp_link())
    assert error_code(client.create_permission(PEER)) == 437  # no allocation yet
    client.allocate()
    assert error_code(client.request(Method.CREATE_PERMISSION, [])) == 400
    assert error_code(client.create_permission(("2001:db8::1", 1))) == 443
    assert error_code(client.create_permission(PEER, ("127.0.0.1", 5000))) == 403
    alloc = world.handler.table.get(client.link.five_tuple, world.clock())
    assert alloc is not None and not alloc.permissions  # all or nothing
    assert client.create_permission(PEER, ("198.51.100.8", 1)).cls == MsgClass.SUCCESS
    assert set(alloc.permissions) == {"198.51.100.7", "198.51.100.8"}


def test_permission_quota_is_508() -> None:
    world = make_world(TurnLimits(max_permissions_per_allocation=2))
    client = TurnTestClient(world, udp_link())
    client.allocate()
    assert client.create_permission(("198.51.100.1", 1), ("198.51.100.2", 1)).cls == 2
    assert client.create_permission(("198.51.100.1", 9)).cls == MsgClass.SUCCESS  # refresh
    assert error_code(client.create_permission(("198.51.100.3", 1))) == 508
    world.clock.advance(301)  # the first two expired: room again
    assert client.create_permission(("198.51.100.3", 1)).cls == MsgClass.SUCCESS


def test_channel_bind_rules(world: World) -> None:
    client = TurnTestClient(world, udp_link())
    client.allocate()
    assert error_code(client.request(Method.CHANNEL_BIND, [(Attr.CHANNEL_NUMBER, 0x4000)])) == 400
    assert error_code(client.channel_bind(0x3FFF, PEER)) == 400
    assert error_code(client.channel_bind(0x8000, PEER)) == 400
    assert error_code(client.channel_bind(0x4000, ("10.0.0.1", 1))) == 403
    assert client.channel_bind(0x4000, PEER).cls == MsgClass.SUCCESS
    assert client.channel_bind(0x4000, PEER).cls == MsgClass.SUCCESS  # refresh is fine
    assert error_code(client.channel_bind(0x4001, PEER)) == 400  # peer on another number
    assert error_code(client.channel_bind(0x4000, ("198.51.100.9", 1))) == 400
    alloc = world.handler.table.get(client.link.five_tuple, world.clock())
    assert alloc is not None and alloc.has_permission(PEER[0], world.clock())


def test_channel_numbers_stay_reserved_5_minutes_after_expiry(world: World) -> None:
    client = TurnTestClient(world, udp_link())
    client.allocate((Attr.LIFETIME, 3600))
    client.channel_bind(0x4000, PEER)
    world.clock.advance(600 + 299)
    assert error_code(client.channel_bind(0x4000, ("198.51.100.9", 1))) == 400
    world.clock.advance(1)
    assert client.channel_bind(0x4000, ("198.51.100.9", 1)).cls == MsgClass.SUCCESS


def test_tcp_connection_close_deletes_the_allocation(world: World) -> None:
    link = tcp_link()
    TurnTestClient(world, link).allocate()
    world.handler.connection_closed(link.five_tuple)
    assert len(world.handler.table) == 0
    assert world.relays.opened[0].closed


def test_indications_and_responses_from_clients_get_no_reply(world: World) -> None:
    client = TurnTestClient(world, udp_link())
    for cls in (MsgClass.INDICATION, MsgClass.SUCCESS, MsgClass.ERROR):
        assert client.send_raw(stun.encode(Message(Method.ALLOCATE, cls, b"y" * 12))) == []
    unknown_method = Message(0x0FF, MsgClass.REQUEST, b"z" * 12)
    assert client.send_raw(stun.encode(unknown_method)) == []
    assert client.send_raw(b"\x80" + bytes(30)) == []  # RFC 7983: reserved first byte
    assert client.send_raw(b"") == []


def test_unauthenticated_answers_are_rate_limited_per_source() -> None:
    world = make_world(TurnLimits(unauthenticated_per_second=1.0, unauthenticated_burst=3))
    client = TurnTestClient(world, udp_link())
    client.challenge()  # the 401 that starts every allocation: one of the three
    binding = stun.encode(Message(Method.BINDING, MsgClass.REQUEST, b"b" * 12))
    answered = [bool(client.send_raw(binding)) for _ in range(4)]
    assert answered == [True, True, False, False]  # then dropped: nothing reflected
    # Another address has its own allowance; credentials are never limited here.
    assert TurnTestClient(world, udp_link(host="192.0.2.51")).send_raw(binding)
    assert client.allocate().cls == MsgClass.SUCCESS
    world.clock.advance(1.0)
    assert client.send_raw(binding)  # one more a second
    assert not client.send_raw(binding)
