"""docs/operations.md keeps up with the code: every default port, every unit file."""

from __future__ import annotations

import argparse
from pathlib import Path

from appliance.config import ServerSettings, TurnSettings, parse_listen
from appliance.rtc.cli import add_turn_arguments

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")


def _port_rows() -> dict[str, str]:
    """{port: protocol} from the table under `## Ports`."""
    section = DOC.split("## Ports", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and cells[0][:1].isdigit():
            rows[cells[0]] = cells[1]
    return rows


def test_every_default_port_is_in_the_ports_table() -> None:
    rows = _port_rows()
    server = ServerSettings()
    https = parse_listen(server.https_listen)[1]
    http = parse_listen(server.http_listen)[1]
    dev = parse_listen(server.listen)[1]
    turn = argparse.ArgumentParser()
    add_turn_arguments(turn)
    defaults = turn.parse_args(["--secret-file", "x"])
    stun = parse_listen(defaults.listen)[1]
    # The relay ports of the TURN server inside `pychat serve` (turn.relay_ports), not the
    # separate `pychat turn`'s default: the appliance runs the former.
    low, high = TurnSettings().relay_ports.split("-")
    assert rows[str(https)] == "TCP" and rows[str(http)] == "TCP"
    assert rows[str(stun)] == "UDP and TCP"
    assert rows[f"{low}–{high}"] == "UDP"
    assert f"{low}-{high}" in DOC.split("## Ports", 1)[1].split("\n## ", 1)[0]  # the nftables
    assert rows["5353"] == "UDP"
    assert rows[str(dev)].startswith("TCP")


def test_every_unit_file_is_described() -> None:
    for path in (ROOT / "systemd").iterdir():
        stem = path.name.removesuffix(".service").removesuffix(".socket").removesuffix(".path")
        assert path.name in DOC or stem in DOC, f"{path.name} is not in docs/operations.md"
