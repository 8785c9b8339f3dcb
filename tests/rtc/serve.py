"""`pychat serve` with its built-in STUN/TURN server on a free loopback port."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import TEST_ENV
from tests.server import Server, init_data

from .ports import free_port

# Inside `pychat serve`: away from `pychat turn`'s tests (24000-24999).
RELAY_PORTS = (25000, 25999)


def turn_env(listen: str) -> dict[str, str]:
    return {
        **TEST_ENV,
        "PYCHAT_TURN_ENABLED": "on",
        "PYCHAT_TURN_LISTEN": listen,
        "PYCHAT_TURN_RELAY_PORTS": "{}-{}".format(*RELAY_PORTS),
    }


def start_turn_serve(
    data: Path, *, loopback_peers: bool = True, env: dict[str, str] | None = None
) -> tuple[Server, int]:
    """A set-up server running TURN on 127.0.0.1:<port>; returns (server, TURN port)."""
    data.mkdir(parents=True, exist_ok=True)
    init_data(data)
    port = free_port()
    args = ("--allow-loopback-peers",) if loopback_peers else ()
    server = Server(data, env={**turn_env(f"127.0.0.1:{port}"), **(env or {})}, args=args)
    return server.start(), port
