"""The peer policy: canonical addresses, always-denied ranges, own addresses, subnets."""

from __future__ import annotations

import logging
from ipaddress import IPv4Address, IPv4Network, IPv6Network, ip_address

import pytest

from appliance.rtc.policy import IPNetwork, PeerPolicy, canonical_address, usable_networks
from appliance.system.netif import interface_addresses

OFFICE = PeerPolicy(
    allowed_networks=(IPv4Network("192.168.1.0/24"), IPv6Network("fd00:1::/64")),
    own_addresses=frozenset({IPv4Address("192.168.1.2"), ip_address("fd00:1::2")}),
    relay_ports=(49152, 65535),
)


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("192.168.1.5", "192.168.1.5"),
        ("::ffff:192.168.1.5", "192.168.1.5"),
        ("::ffff:0:192.168.1.5", "192.168.1.5"),
        ("::192.168.1.5", "192.168.1.5"),
        ("64:ff9b::c0a8:105", "192.168.1.5"),
        ("2002:c0a8:0105::1", "192.168.1.5"),
        ("::ffff:127.0.0.1", "127.0.0.1"),
        ("64:ff9b::7f00:1", "127.0.0.1"),
        ("2002:7f00:0001::", "127.0.0.1"),
        ("::1", "::1"),
        ("::", "::"),
        ("fe80::1%eth0", "fe80::1"),
        ("2001::1", "2001::1"),
    ],
)
def test_canonical_address(spelling: str, canonical: str) -> None:
    assert str(canonical_address(spelling)) == canonical


def test_not_an_address() -> None:
    assert canonical_address("example.com") is None
    assert not OFFICE.allows("example.com", 5000)


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1", "64:ff9b::7f00:1", "2002:7f00:1::",
        "0.0.0.0", "0.1.2.3", "::", "169.254.1.1", "fe80::1", "224.0.0.251", "239.1.1.1",
        "ff02::1", "255.255.255.255", "240.0.0.1", "2001::1", "2001:0:4136:e378::1",
        "192.168.1.255", "192.168.1.0", "::ffff:192.168.1.255", "8.8.8.8", "10.0.0.1",
        "192.168.2.1", "fd00:2::1",
    ],
)  # fmt: skip
def test_denied_peers(host: str) -> None:
    assert OFFICE.denial(host, 5000) is not None
    assert not OFFICE.allows(host, 5000)


@pytest.mark.parametrize(
    "host", ["192.168.1.5", "::ffff:192.168.1.5", "64:ff9b::c0a8:105", "fd00:1::99"]
)
def test_office_peers_are_allowed(host: str) -> None:
    assert OFFICE.allows(host, 5000)
    assert OFFICE(host, 5000)  # the policy is the peer_filter callable


def test_own_addresses_only_on_relay_ports() -> None:
    assert OFFICE.allows("192.168.1.2", 50000)
    assert OFFICE.allows("::ffff:192.168.1.2", 65535)
    for port in (443, 3478, 22, 49151):
        assert OFFICE.denial("192.168.1.2", port) == "own address outside the relay ports"
    assert not OFFICE.allows("fd00:1::2", 8080)
    assert not OFFICE.allows("192.168.1.5", 0)


def test_loopback_switch_warns_and_allows(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="appliance.rtc.policy"):
        testing = PeerPolicy(
            allowed_networks=(), own_addresses=frozenset(), relay_ports=(24000, 24999),
            allow_loopback=True,
        )  # fmt: skip
    assert "allow_loopback_peers is ON" in caplog.text
    assert testing.allows("127.0.0.1", 23480)
    assert testing.allows("::1", 1)
    assert not testing.allows("169.254.0.1", 1)  # everything else still applies
    assert not testing.allows("192.168.1.5", 1)


def test_decisions_are_cached_but_bounded() -> None:
    policy = PeerPolicy(
        allowed_networks=(IPv4Network("10.0.0.0/8"),), own_addresses=frozenset(),
        relay_ports=(24000, 24999),
    )  # fmt: skip
    for i in range(5000):
        policy.allows(f"10.0.{i // 256}.{i % 256}", 1000)
    assert len(policy._cache) <= 4096


def test_usable_networks_drop_loopback_and_link_local() -> None:
    nets: list[IPNetwork] = [
        IPv4Network("127.0.0.0/8"), IPv4Network("192.168.1.0/24"), IPv6Network("fe80::/64"),
        IPv6Network("::1/128"), IPv4Network("192.168.1.0/24"), IPv6Network("fd00::/64"),
    ]  # fmt: skip
    assert usable_networks(nets) == (IPv4Network("192.168.1.0/24"), IPv6Network("fd00::/64"))


def test_interface_addresses_include_loopback() -> None:
    found = interface_addresses()
    assert any(str(iface.ip) == "127.0.0.1" for iface in found)
