"""Who a connection counts against, and how many the server takes when left automatic."""

from __future__ import annotations

from pathlib import Path

from appliance.config import load_settings
from appliance.web.connections import AUTO_CEILING, address_key, total_cap


def test_an_ipv6_host_counts_as_its_slash_64_and_mapped_ipv4_as_ipv4() -> None:
    assert address_key(("192.168.1.7", 51000)) == "192.168.1.7"
    one = address_key(("2001:db8:1:2::a", 443, 0, 0))
    other = address_key(("2001:db8:1:2:ffff:1:2:3", 443, 0, 0))
    assert one == other == "2001:db8:1:2::/64"
    assert address_key(("2001:db8:1:3::a", 443, 0, 0)) != one
    assert address_key(("::ffff:192.168.1.7", 443, 0, 0)) == "192.168.1.7"
    assert address_key(("fe80::1%eth0", 443, 0, 2)) == "fe80::/64"
    assert address_key(None) == ""


def test_the_automatic_cap_leaves_room_for_the_rest_of_the_process(tmp_path: Path) -> None:
    development = load_settings(tmp_path, environ={})
    appliance = load_settings(tmp_path, environ={}, overrides={"server.mode": "appliance"})
    # The unit's LimitNOFILE: bounded by memory, far under the descriptors.
    assert total_cap(development, 65536) == AUTO_CEILING
    # A small limit: three quarters at most, and the in-process TURN relay's sockets kept.
    assert total_cap(development, 8192) <= 8192 * 3 // 4
    assert total_cap(appliance, 8192) == total_cap(development, 8192) - 1000
    # The default soft limit of a shell: still under it, with the reserve.
    assert 16 <= total_cap(development, 1024) <= 1024 - 512
    fixed = load_settings(tmp_path, environ={"PYCHAT_SERVER_MAX_CONNECTIONS": "50"})
    assert total_cap(fixed, 65536) == 50
