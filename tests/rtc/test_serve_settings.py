"""The in-process server's settings and its live peer policy (pure: no sockets)."""

from __future__ import annotations

from ipaddress import IPv4Interface
from pathlib import Path

import pytest

from appliance.config import ConfigError, load_settings
from appliance.turn.builtin import LivePolicy, TurnService
from appliance.turn.config import TurnConfig


def _config(tmp_path: Path, **env: str) -> TurnConfig:
    environ = {f"PYCHAT_TURN_{k.upper()}": v for k, v in env.items()}
    return TurnConfig.from_settings(load_settings(tmp_path, environ=environ))


def test_defaults_keep_relays_out_of_the_ephemeral_range(tmp_path: Path) -> None:
    config = _config(tmp_path)
    assert config.listen == ("0.0.0.0", 3478)
    low, high = config.relay_ports
    assert low > 60999 and high <= 65535
    assert config.office_subnets is None  # the device's own subnets
    assert config.credential_ttl_s == 12 * 3600


def test_turn_is_on_in_appliance_mode_only_by_default(tmp_path: Path) -> None:
    dev = TurnService(load_settings(tmp_path, environ={}))
    appliance = TurnService(load_settings(tmp_path, environ={"PYCHAT_SERVER_MODE": "appliance"}))
    forced = TurnService(load_settings(tmp_path, environ={"PYCHAT_TURN_ENABLED": "on"}))
    assert (dev.enabled, appliance.enabled, forced.enabled) == (False, True, True)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("relay_ports", "70000-80000"),
        ("relay_ports", "5000"),
        ("listen", "pychat.local:3478"),
        ("office_subnets", "10.0.0.0/8, banana"),
        ("relay_address", "not-an-ip"),
        ("max_allocations", "0"),
        ("credential_ttl_s", "10"),
    ],
)
def test_bad_settings_name_their_key(tmp_path: Path, key: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"turn.{key}"):
        _config(tmp_path, **{key: value})


def test_office_subnets_follow_the_device_addresses(tmp_path: Path) -> None:
    config = _config(tmp_path, listen="*:3478")
    policy = LivePolicy(config, "192.168.1.2", False, [IPv4Interface("192.168.1.2/24")])
    assert policy("192.168.1.50", 5000)
    assert not policy("10.0.0.9", 5000)
    policy.update([IPv4Interface("10.0.0.5/24")])  # DHCP moved the device
    assert policy("10.0.0.9", 5000)
    assert not policy("192.168.1.50", 5000)
    assert not policy("127.0.0.1", 5000)  # loopback stays refused


def test_configured_subnets_win_and_loopback_needs_the_switch(tmp_path: Path) -> None:
    config = _config(tmp_path, office_subnets="10.1.0.0/16 192.168.5.0/24")
    interfaces = [IPv4Interface("172.16.0.2/24")]
    policy = LivePolicy(config, "172.16.0.2", False, interfaces)
    assert policy("10.1.2.3", 5000) and policy("192.168.5.7", 5000)
    assert not policy("172.16.0.9", 5000)
    assert LivePolicy(config, "172.16.0.2", True, interfaces)("127.0.0.1", 5000)


def test_an_external_relay_replaces_the_built_in_one(tmp_path: Path) -> None:
    environ = {"PYCHAT_SERVER_MODE": "appliance", "PYCHAT_TURN_EXTERNAL": "relay.lan:3478"}
    service = TurnService(load_settings(tmp_path, environ=environ))
    assert service.config.external == ("relay.lan", 3478)
    assert not service.enabled  # nothing listens here
    assert service.url_host("pychat.local") == "relay.lan"


@pytest.mark.parametrize("value", ["relay.lan", "bad host:3478", "10.0.0.2:0", ":3478"])
def test_a_bad_external_relay_names_its_key(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError, match=r"turn\.external"):
        _config(tmp_path, external=value)


def test_external_and_built_in_relays_do_not_mix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"turn\.external"):
        _config(tmp_path, enabled="on", external="10.0.0.2:3478")
