"""GET /api/turn against a real `pychat serve` running its built-in TURN server."""

from __future__ import annotations

import base64
import hashlib
import hmac
import socket
import stat
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.client import Client
from tests.conftest import USER_PASSWORD
from tests.rtc.ports import free_port
from tests.rtc.serve import start_turn_serve, turn_env
from tests.server import ADMIN_PASSWORD, Server, init_data, pychat


@pytest.fixture(scope="module")
def turn_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, int]]:
    server, port = start_turn_serve(tmp_path_factory.mktemp("turn") / "data")
    yield server, port
    server.stop()


@pytest.fixture
async def user(turn_server: tuple[Server, int]) -> AsyncIterator[Client]:
    server, _ = turn_server
    admin = await Client(server.url).login("admin", ADMIN_PASSWORD)
    name = f"t{time.monotonic_ns() % 10**9}"
    await admin.post("/api/admin/users", {"username": name, "password": USER_PASSWORD}, expect=201)
    await admin.close()
    client = await Client(server.url).login(name, USER_PASSWORD)
    yield client
    await client.close()


def _secret(server: Server) -> bytes:
    return (server.data / "turn-secret").read_bytes().strip()


async def test_signed_in_user_gets_working_rest_credentials(
    turn_server: tuple[Server, int], user: Client
) -> None:
    server, port = turn_server
    before = int(time.time())
    body = await user.get("/api/turn")
    assert body["urls"] == [
        f"turn:127.0.0.1:{port}?transport=udp",
        f"turn:127.0.0.1:{port}?transport=tcp",
        f"stun:127.0.0.1:{port}",
    ]
    expiry, _, user_id = body["username"].partition(":")
    assert int(user_id) == user.id
    assert before + 43200 <= int(expiry) <= int(time.time()) + 43200
    assert body["ttl"] == 43200
    mac = hmac.new(_secret(server), body["username"].encode(), hashlib.sha1).digest()
    assert body["credential"] == base64.b64encode(mac).decode()


async def test_the_secret_stays_on_the_server(
    turn_server: tuple[Server, int], user: Client
) -> None:
    server, _ = turn_server
    secret_file = server.data / "turn-secret"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    status, text = await user.call("GET", "/api/turn")
    assert status == 200
    secret = _secret(server).decode()
    assert secret not in str(text)
    assert secret not in server.log()
    assert "allow_loopback_peers is ON" in server.log()  # the test switch is loud


async def test_signed_out_gets_401_and_no_credentials(turn_server: tuple[Server, int]) -> None:
    server, _ = turn_server
    anonymous = Client(server.url)
    status, body = await anonymous.call("GET", "/api/turn")
    await anonymous.close()
    assert status == 401
    assert body["error"]["code"] == "unauthorized"


async def test_credential_requests_are_rate_limited(turn_server: tuple[Server, int]) -> None:
    server, _ = turn_server
    admin = await Client(server.url).login("admin", ADMIN_PASSWORD)
    statuses = [(await admin.call("GET", "/api/turn"))[0] for _ in range(14)]
    await admin.close()
    assert statuses[:10] == [200] * 10
    assert 429 in statuses[10:]


async def test_without_turn_the_app_gets_no_ice_servers(admin: Client) -> None:
    # The shared test server runs in development mode: `turn.enabled = auto` means off.
    body = await admin.get("/api/turn")
    assert body == {"urls": [], "username": "", "credential": "", "ttl": 0}


async def test_urls_name_the_host_the_browser_used_and_never_junk(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    init_data(data)
    port = free_port()
    env = {**turn_env(f"*:{port}"), "PYCHAT_TURN_RELAY_ADDRESS": "127.0.0.1"}
    server = Server(data, env=env).start()
    try:
        client = await Client(server.url).login("admin", ADMIN_PASSWORD)
        seen = {}
        for host in ("pychat.local:8443", "192.168.1.20", "[::1]:80", "evil.example.com",
                     "a b<script>", "pychat"):  # fmt: skip
            body = await client.get("/api/turn", headers={"Host": host})
            seen[host] = body["urls"][0]
        await client.close()
    finally:
        server.stop()
    assert seen == {
        "pychat.local:8443": f"turn:pychat.local:{port}?transport=udp",
        "192.168.1.20": f"turn:192.168.1.20:{port}?transport=udp",
        "[::1]:80": f"turn:[::1]:{port}?transport=udp",
        "evil.example.com": f"turn:127.0.0.1:{port}?transport=udp",
        "a b<script>": f"turn:127.0.0.1:{port}?transport=udp",
        "pychat": f"turn:pychat:{port}?transport=udp",
    }


def test_loopback_switch_is_refused_in_appliance_mode(tmp_path: Path) -> None:
    done = pychat(
        "serve", "--allow-loopback-peers", data=tmp_path, env={"PYCHAT_SERVER_MODE": "appliance"}
    )
    assert done.returncode == 2
    assert "--allow-loopback-peers is for tests only" in done.stderr
    assert not (tmp_path / "turn-secret").exists()


def test_a_bad_turn_setting_stops_the_server_naming_the_key(tmp_path: Path) -> None:
    done = pychat(
        "serve", data=tmp_path, env={**turn_env("127.0.0.1:0"), "PYCHAT_TURN_RELAY_PORTS": "9-5"}
    )
    assert done.returncode == 2
    assert "turn.relay_ports" in done.stderr


async def test_chat_still_serves_when_the_turn_port_is_taken(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    init_data(data)
    port = free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
        squatter.bind(("127.0.0.1", port))
        server = Server(data, env=turn_env(f"127.0.0.1:{port}")).start()
        try:
            client = await Client(server.url).login("admin", ADMIN_PASSWORD)
            body = await client.get("/api/turn")
            await client.close()
        finally:
            server.stop()
    assert body["urls"] == []  # calls fall back to direct connections
    assert "TURN server not started (retrying every minute): turn.listen" in server.log()
