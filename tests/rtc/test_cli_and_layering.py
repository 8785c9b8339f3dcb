"""The command line and the documentation it promises. (That rtc imports nothing of the chat
is import-linter's contract "TURN knows nothing of the chat", pyproject.toml: `make lint`.)"""

from __future__ import annotations

import argparse
import os
import selectors
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.rtc import stun
from appliance.rtc.cli import TurnConfig, add_turn_arguments, parse_host_port, parse_port_range
from appliance.rtc.stun import Attr, Message, Method, MsgClass

from .procs import stop

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "turn.md"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    add_turn_arguments(p)
    return p


def test_every_option_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    for action in parser()._actions:
        for option in action.option_strings:
            if option.startswith("--") and option != "--help":
                assert f"`{option}" in text, f"{option} is missing from docs/turn.md"


@pytest.mark.parametrize(
    ("argv", "key"),
    [
        (["--listen", "localhost:3478"], "turn.listen"),
        (["--listen", "127.0.0.1"], "turn.listen"),
        (["--listen", "127.0.0.1:70000"], "turn.listen"),
        (["--relay-ports", "5000-4000"], "turn.relay_ports"),
        (["--relay-ports", "80-90"], "turn.relay_ports"),
        (["--relay-address", "relay.local"], "turn.relay_address"),
        (["--allow-subnet", "10.0.0.0/33"], "turn.allow_subnet"),
        (["--max-allocations", "0"], "turn.max_allocations"),
        (["--realm", ""], "turn.realm"),
    ],
)
def test_config_errors_name_the_key(argv: list[str], key: str) -> None:
    args = parser().parse_args(["--secret-file", "/nonexistent", *argv])
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        TurnConfig.from_args(args)


def test_parsers() -> None:
    assert parse_host_port("[::1]:3478", "k") == ("::1", 3478)
    assert parse_host_port("0.0.0.0:0", "k") == ("0.0.0.0", 0)
    assert parse_port_range("24000-24999", "k") == (24000, 24999)


ENTRY_POINTS = {"module": ["-m", "appliance.rtc"], "pychat turn": ["-m", "appliance", "turn"]}


def _run(*argv: str, tmp: Path, entry: str = "module") -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["timeout", "60", sys.executable, *ENTRY_POINTS[entry], *argv],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def test_bad_configuration_exits_2(tmp_path: Path) -> None:
    loose = tmp_path / "loose"
    loose.write_text("a-long-enough-secret-value\n")
    loose.chmod(0o644)
    process = _run("--listen", "127.0.0.1:0", "--secret-file", str(loose), tmp=tmp_path)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 2
    assert b"turn.secret_file" in err and b"0600" in err


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_entry_points_serve_and_stop_cleanly(tmp_path: Path, entry: str) -> None:
    secret = tmp_path / "turn.secret"
    process = _run(
        "--listen", "127.0.0.1:0", "--relay-ports", "24000-24999", "--secret-file", str(secret),
        "--log-level", "WARNING", tmp=tmp_path, entry=entry,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            assert selector.select(timeout=15), "no ready line"
        line = process.stdout.readline().decode()
        assert line.startswith("TURN listening on 127.0.0.1:"), line
        port = int(line.split()[3].rsplit(":", 1)[1])
        assert os.stat(secret).st_mode & 0o777 == 0o600  # created on first run
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            sock.settimeout(5)
            request = Message(Method.BINDING, MsgClass.REQUEST, os.urandom(12))
            sock.sendto(stun.encode(request), ("127.0.0.1", port))
            reply = stun.decode(sock.recv(2048))
            assert reply.get_address(Attr.XOR_MAPPED_ADDRESS) == sock.getsockname()
    finally:
        status = stop(process, signal.SIGTERM)
    assert status == 0
