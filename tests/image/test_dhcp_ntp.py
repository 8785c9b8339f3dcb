"""The NetworkManager dispatcher that hands DHCP's NTP servers to systemd-timesyncd: an
office without internet keeps the right time if its router offers NTP (option 42)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "image/overlay/etc/NetworkManager/dispatcher.d/50-pychat-dhcp-ntp"


@pytest.fixture
def dispatch(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Run the script as NetworkManager would; systemctl is a stand-in that logs its call."""
    bin_dir, dropins = tmp_path / "bin", tmp_path / "timesyncd.conf.d"
    bin_dir.mkdir()
    restarts = tmp_path / "restarts"
    fake = bin_dir / "systemctl"
    fake.write_text(f'#!/bin/sh\necho "$*" >>{restarts}\n')
    fake.chmod(0o755)

    def run(iface: str, action: str, servers: str | None = None) -> list[str]:
        env = {
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "PYCHAT_TIMESYNCD_DROPIN_DIR": str(dropins),
        }
        if servers is not None:
            env["DHCP4_NTP_SERVERS"] = servers
        subprocess.run(["sh", str(SCRIPT), iface, action], env=env, check=True)
        calls = restarts.read_text().splitlines() if restarts.exists() else []
        restarts.unlink(missing_ok=True)
        return calls

    run.dropins = dropins  # type: ignore[attr-defined]
    return run


def test_the_script_is_executable_in_the_overlay() -> None:
    assert SCRIPT.stat().st_mode & 0o111, "NetworkManager only runs executable scripts"


def test_dhcp_ntp_servers_reach_timesyncd_and_leave_with_the_link(dispatch) -> None:  # type: ignore[no-untyped-def]
    calls = dispatch("eth0", "up", "192.168.1.1 ntp.office.lan")
    conf = dispatch.dropins / "50-pychat-dhcp-eth0.conf"
    assert "[Time]\nNTP=192.168.1.1 ntp.office.lan\n" in conf.read_text()
    assert calls == ["try-restart systemd-timesyncd.service"]

    assert dispatch("eth0", "dhcp4-change", "192.168.1.1 ntp.office.lan") == [], (
        "the same servers again: timesyncd is not restarted"
    )
    assert dispatch("eth0", "down") == ["try-restart systemd-timesyncd.service"]
    assert not conf.exists()


def test_hostile_values_never_reach_the_configuration(dispatch) -> None:  # type: ignore[no-untyped-def]
    dispatch("wlan0", "up", "10.0.0.1\nNTP=attacker;rm [x] 10.0.0.2")
    text = (dispatch.dropins / "50-pychat-dhcp-wlan0.conf").read_text()
    assert text.splitlines()[-1] == "NTP=10.0.0.1 10.0.0.2"
    assert dispatch("../../etc", "up", "10.0.0.1") == []
    assert sorted(p.name for p in dispatch.dropins.iterdir()) == ["50-pychat-dhcp-wlan0.conf"]


def test_no_servers_and_other_events_change_nothing(dispatch) -> None:  # type: ignore[no-untyped-def]
    assert dispatch("eth0", "up", "") == []
    assert dispatch("eth0", "connectivity-change", "10.0.0.1") == []
    assert not dispatch.dropins.exists()
