"""Allocation state with time passed in: no sockets, no sleeps."""

from __future__ import annotations

import pytest

from appliance.rtc.allocation import Allocation, AllocationTable, FiveTuple
from appliance.rtc.credentials import Credential
from appliance.rtc.limits import TokenBucket, TurnLimits
from appliance.rtc.stun_attributes import FAMILY_IPV4

from .fakes import FakeRelay, udp_link

PEER = ("198.51.100.7", 5000)


def make_alloc(port: int = 50000, user: str = "7", expires: float = 600.0) -> Allocation:
    link = udp_link(port)
    return Allocation(
        five_tuple=link.five_tuple,
        credential=Credential(user, f"9999:{user}", b"k" * 16),
        link=link,
        relay=FakeRelay(("192.0.2.10", 24000 + port % 1000), False),
        transaction_id=b"t" * 12,
        expires=expires,
        bucket=TokenBucket(1000, 10, 1.0, 0.0),
        family=FAMILY_IPV4,
    )


def test_table_quota_removal_and_callback() -> None:
    removed: list[Allocation] = []
    table = AllocationTable(
        TurnLimits(max_allocations=3, max_allocations_per_user=2), removed.append
    )
    a, b, c = make_alloc(1), make_alloc(2), make_alloc(3, user="8")
    assert table.quota_error("7") is None
    table.add(a)
    table.add(b)
    assert table.quota_error("7") == 486
    table.add(c)
    assert table.quota_error("9") == 508
    with pytest.raises(ValueError):
        table.add(make_alloc(1))
    assert table.remove(a.five_tuple) is a and removed == [a]
    assert table.remove(a.five_tuple) is None
    assert table.count_for("7") == 1 and len(table) == 2
    table.clear()
    assert len(table) == 0 and table.count_for("8") == 0 and len(removed) == 3


def test_get_drops_an_expired_allocation() -> None:
    removed: list[Allocation] = []
    table = AllocationTable(TurnLimits(), removed.append)
    alloc = make_alloc(expires=600.0)
    table.add(alloc)
    assert table.get(alloc.five_tuple, 599.9) is alloc
    assert table.get(alloc.five_tuple, 600.0) is None
    assert removed == [alloc] and len(table) == 0


def test_expire_returns_expired_and_prunes_live() -> None:
    table = AllocationTable(TurnLimits())
    short, long = make_alloc(1, expires=100.0), make_alloc(2, expires=5000.0)
    table.add(short)
    table.add(long)
    long.install_permission("198.51.100.7", now=0.0)
    long.bind_channel(0x4000, PEER, now=0.0)
    assert table.expire(100.0) == [short]
    assert list(table) == [long]
    table.expire(300.0)
    assert long.permissions == {}  # permission lifetime is 300 s
    assert long.peer_channel(PEER, 300.0) == 0x4000  # channel lifetime is 600 s
    table.expire(600.0 + 299.0)
    assert 0x4000 in long.channels  # quarantined, not yet forgotten
    table.expire(900.0)
    assert long.channels == {} and long.peer_channels == {}


def test_permissions_by_ip_with_expiry_and_room() -> None:
    alloc = make_alloc()
    alloc.install_permission("198.51.100.7", now=10.0)
    assert alloc.has_permission("198.51.100.7", 309.9)
    assert not alloc.has_permission("198.51.100.7", 310.0)
    assert not alloc.has_permission("198.51.100.8", 11.0)
    assert alloc.permission_room(["198.51.100.7", "198.51.100.8"], 11.0, 2)
    assert not alloc.permission_room(["198.51.100.8", "198.51.100.9"], 11.0, 2)
    assert alloc.permission_room(["198.51.100.8", "198.51.100.9"], 311.0, 2)


def test_channel_binding_conflicts_and_rebinding() -> None:
    alloc = make_alloc()
    assert alloc.channel_conflict(0x4000, PEER, 0.0) is None
    alloc.bind_channel(0x4000, PEER, 0.0)
    assert alloc.channel_peer(0x4000, 1.0) == PEER
    assert alloc.has_permission(PEER[0], 1.0)
    assert alloc.channel_conflict(0x4000, PEER, 1.0) is None
    assert alloc.channel_conflict(0x4001, PEER, 1.0) == "peer bound to another channel number"
    other = ("198.51.100.8", 1)
    assert alloc.channel_conflict(0x4000, other, 1.0) == "channel number bound to another peer"
    assert alloc.channel_peer(0x4000, 600.0) is None  # expired
    assert alloc.channel_conflict(0x4000, other, 899.0) is not None  # quarantine
    assert alloc.channel_conflict(0x4000, other, 900.0) is None
    alloc.bind_channel(0x4000, other, 900.0)
    assert alloc.channel_peer(0x4000, 901.0) == other and PEER not in alloc.peer_channels
    assert alloc.channel_room(0x4001, 901.0, 1) is False
    assert alloc.channel_room(0x4000, 901.0, 1) is True


def test_five_tuple_is_a_plain_hashable_tuple() -> None:
    ft = FiveTuple("192.0.2.1", 1, "192.0.2.2", 3478, "udp")
    assert ft == ("192.0.2.1", 1, "192.0.2.2", 3478, "udp")
    assert ft.client == ("192.0.2.1", 1)
    assert ft != ft._replace(protocol="tcp")


def test_token_bucket_rates_and_burst() -> None:
    bucket = TokenBucket(bytes_rate=1000, packets_rate=10, burst_s=1.0, now=0.0)
    assert all(bucket.take(10, 0.0) for _ in range(10))
    assert not bucket.take(10, 0.0)  # packets exhausted
    assert bucket.take(10, 0.1)  # one packet refilled
    assert not bucket.take(2000, 5.0)  # bigger than the byte burst
    assert bucket.take(1000, 5.0)


@pytest.mark.parametrize(
    ("field", "value"),
    [("max_allocations", 0), ("max_lifetime_s", 5000), ("max_lifetime_s", 10),
     ("burst_seconds", 0), ("packets_per_second", -1)],
)  # fmt: skip
def test_limits_validate_and_name_the_key(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=f"turn.{field}"):
        TurnLimits(**{field: value})  # type: ignore[arg-type]
