"""Interop with coturn's reference clients (Debian package ``coturn``).

The server runs as a subprocess (``python -m appliance.rtc``) on 127.0.0.1, ports below
the kernel's ephemeral range; every client runs under ``timeout``. The positive matrix
runs concurrently against one server to keep the suite fast.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import selectors
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .ports import free_port
from .procs import stop

TOOLS = ("turnutils_uclient", "turnutils_stunclient", "turnutils_peer", "timeout")
MISSING = [tool for tool in TOOLS if shutil.which(tool) is None]
pytestmark = pytest.mark.skipif(
    bool(MISSING),
    reason=f"coturn utilities missing ({', '.join(MISSING)}): apt-get install -y coturn",
)

REPO = Path(__file__).resolve().parents[2]
RELAY_PORTS = "24000-24999"
SECRET = "interop-secret-0123456789abcdef"


@dataclass
class Server:
    port: int
    process: subprocess.Popen[bytes]
    log: Path


def _start_server(tmp: Path, name: str, *extra: str) -> Server:
    secret_file = tmp / "secret"
    if not secret_file.exists():
        secret_file.write_text(SECRET + "\n")
        secret_file.chmod(0o600)
    port = free_port()
    log = tmp / f"{name}.log"
    command = [
        "timeout", "120", sys.executable, "-m", "appliance.rtc",
        "--listen", f"127.0.0.1:{port}", "--relay-ports", RELAY_PORTS,
        "--secret-file", str(secret_file), "--realm", "pychat.test", *extra,
    ]  # fmt: skip
    with log.open("wb") as stderr:
        process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=stderr)
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout=15):
            process.kill()
            raise AssertionError(f"server did not start: {log.read_text()}")
    line = process.stdout.readline().decode()
    assert line.startswith(f"TURN listening on 127.0.0.1:{port}"), (line, log.read_text())
    return Server(port, process, log)


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("coturn")


@pytest.fixture(scope="module")
def server(tmp: Path) -> Iterator[Server]:
    started = _start_server(tmp, "loopback", "--allow-loopback-peers")
    yield started
    assert stop(started.process) == 0, started.log.read_text()


@pytest.fixture(scope="module")
def strict_server(tmp: Path) -> Iterator[Server]:
    started = _start_server(tmp, "strict")
    yield started
    stop(started.process)


@pytest.fixture(scope="module")
def peer() -> Iterator[int]:
    port = free_port(span=2)
    process = subprocess.Popen(
        ["timeout", "120", "turnutils_peer", "-L", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    yield port
    stop(process)


def uclient(
    server: Server,
    peer: int,
    flags: list[str],
    *,
    user: str = "alice",
    auth: list[str] | None = None,
    load: str = "-n 20 -m 2 -l 1000 -z 5",
) -> list[str]:
    credentials = auth if auth is not None else ["-W", SECRET, "-u", user]
    return [
        "timeout", "60", "turnutils_uclient", *flags, *credentials, "-e", "127.0.0.1",
        "-r", str(peer), "-p", str(server.port), "-c", *load.split(), "127.0.0.1",
    ]  # fmt: skip


def run_all(commands: dict[str, list[str]]) -> dict[str, subprocess.CompletedProcess[str]]:
    """Run every command at once; wait for all (each is bounded by ``timeout``)."""
    processes = {
        name: subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for name, cmd in commands.items()
    }
    results = {}
    for name, process in processes.items():
        out, _ = process.communicate(timeout=90)
        results[name] = subprocess.CompletedProcess(commands[name], process.returncode, out)
    return results


MATRIX = {
    "udp-channels": [],
    "udp-send-indications": ["-s"],
    "udp-extra-requests": ["-G"],
    "tcp-channels": ["-t"],
    "tcp-send-indications": ["-t", "-s"],
    "udp-client-to-client": ["-y"],
    "tcp-client-to-client": ["-t", "-y"],
    "udp-dont-fragment": ["-g"],
    "udp-padded-channels": ["-D"],
}


@pytest.fixture(scope="module")
def matrix(server: Server, peer: int) -> dict[str, subprocess.CompletedProcess[str]]:
    commands = {
        name: uclient(server, peer, flags, user=f"user{i}")
        for i, (name, flags) in enumerate(MATRIX.items())
    }
    return run_all(commands)


@pytest.mark.parametrize("name", list(MATRIX))
def test_uclient_matrix(matrix: dict[str, subprocess.CompletedProcess[str]], name: str) -> None:
    result = matrix[name]
    assert result.returncode == 0, result.stdout[-2000:]
    assert "Total lost packets 0 (0.000000%)" in result.stdout, result.stdout[-2000:]
    totals = [
        line for line in result.stdout.splitlines() if "start_mclient: tot_send_bytes" in line
    ]
    assert totals, result.stdout[-2000:]
    sent, received = (part.split("~")[1].strip() for part in totals[-1].split(",")[-2:])
    assert sent == received and int(sent) > 0


def test_stunclient_gets_reflexive_address(server: Server) -> None:
    result = subprocess.run(
        ["timeout", "10", "turnutils_stunclient", "-p", str(server.port), "127.0.0.1"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "UDP reflexive addr: 127.0.0.1:" in result.stdout


def _rest_password(username: str) -> str:
    mac = hmac.new(SECRET.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(mac).decode()


def test_must_fail_cases(server: Server, strict_server: Server, peer: int) -> None:
    expired = f"{int(time.time()) - 60}:mallory"
    future = f"{int(time.time()) + 3600}:mallory"
    quick = "-n 5 -m 1 -l 200 -z 5"
    results = run_all(
        {
            "wrong password": uclient(server, peer, [], auth=["-u", future, "-w", "wrong"],
                                      load=quick),
            "expired credential": uclient(server, peer, [],
                                          auth=["-u", expired, "-w", _rest_password(expired)],
                                          load=quick),
            "wrongly signed": uclient(server, peer, [], auth=["-W", "another-secret-abcdefgh",
                                                              "-u", "mallory"], load=quick),
            "loopback peer": uclient(strict_server, peer, [], load=quick),
            "tcp allocation (RFC 6062)": uclient(server, peer, ["-T"], load=quick),
        }
    )  # fmt: skip
    expectations = {
        "wrong password": "Cannot complete Allocation",
        "expired credential": "Cannot complete Allocation",
        "wrongly signed": "Cannot complete Allocation",
        "loopback peer": "channel bind: error 403",
        "tcp allocation (RFC 6062)": "error 442",
    }
    for name, expected in expectations.items():
        result = results[name]
        assert result.returncode == 255, f"{name}: rc={result.returncode}\n{result.stdout[-1500:]}"
        assert expected in result.stdout, f"{name}:\n{result.stdout[-1500:]}"


@pytest.mark.skipif(
    os.environ.get("PYCHAT_TURN_LOAD") != "1", reason="load run: set PYCHAT_TURN_LOAD=1 (~20 s)"
)
def test_load_run(server: Server, peer: int) -> None:
    started = time.monotonic()
    result = run_all(
        {"load": uclient(server, peer, [], user="load", load="-m 20 -n 1000 -l 1200 -z 10")}
    )["load"]
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout[-2000:]
    assert "Total lost packets 0 (0.000000%)" in result.stdout
    print(f"\nload run: 20 clients x 1000 x 1200 B in {elapsed:.1f} s")
