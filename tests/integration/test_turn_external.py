"""The relay on a second device: `pychat serve` with `turn.external` hands out credentials
for a separate `pychat turn` that shares its secret, and calls relay through it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.client import Client
from tests.conftest import TEST_ENV
from tests.rtc.peers import chat_over_relay, relay_config
from tests.rtc.ports import free_port
from tests.rtc.procs import stop
from tests.server import ADMIN_PASSWORD, Server, init_data

ROOT = Path(__file__).resolve().parents[2]
RELAYS = (25000, 25999)


async def test_calls_relay_through_a_turn_server_on_another_device(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    init_data(data)
    port = free_port()
    env = {**TEST_ENV, "PYCHAT_TURN_EXTERNAL": f"127.0.0.1:{port}"}
    server = Server(data, env=env).start()
    relay = None
    try:
        # The office copies <data>/turn-secret to the second device; here it is one machine.
        secret = data / "turn-secret"
        assert secret.exists()
        relay = subprocess.Popen(
            [sys.executable, "-m", "appliance.rtc", "--listen", f"127.0.0.1:{port}",
             "--relay-ports", "{}-{}".format(*RELAYS), "--secret-file", str(secret),
             "--allow-loopback-peers"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        assert relay.stdout is not None
        assert relay.stdout.readline().startswith(f"TURN listening on 127.0.0.1:{port}")
        client = await Client(server.url).login("admin", ADMIN_PASSWORD)
        credentials = await client.get("/api/turn")
        await client.close()
        assert credentials["urls"][0] == f"turn:127.0.0.1:{port}?transport=udp"
        config = relay_config(credentials, credentials["urls"][0])
        echoed = await chat_over_relay(config, config, RELAYS)
        assert echoed == [f"echo: hello {i}" for i in range(5)]
    finally:
        if relay is not None:
            assert stop(relay) == 0
        server.stop()
    assert "TURN server on" not in server.log()  # no second relay on this device
