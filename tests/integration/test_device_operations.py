"""Device operations through the privileged helper, end to end without changing the host:
the real app (development mode, in this process) talks to a real helper service in dry-run
mode on a temporary unix socket. Also: no helper (a development machine), and a factory
reset of a set-up server's data folder, then its first boot again."""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import socket
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from appliance.app import build_app
from appliance.chat import setup
from appliance.config import load_settings
from appliance.privileged.connection import handle_connection
from appliance.privileged.executor import DryRun
from appliance.privileged.protocol import Reply
from appliance.state.app_keys import HELPER_SOCKET, SERVICES
from tests.conftest import TEST_ENV
from tests.server import Server, init_data, pychat

PASSWORD = "admin-password"
SECRET = "correct horse battery"


@dataclass
class Running:
    base: str
    http: aiohttp.ClientSession

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        kw: dict[str, Any] = {} if body is None else {"json": body}
        async with self.http.request(method, self.base + path, **kw) as r:
            return r.status, await r.json()


async def _running(data: Path, helper_socket: Path) -> AsyncIterator[Running]:
    settings = load_settings(
        data,
        environ={"PYCHAT_AUTH_SCRYPT_N": "1024"},
        overrides={"server.mode": "development", "discovery.mdns": "off"},
    )
    app = build_app(settings)
    app[HELPER_SOCKET] = helper_socket
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        await setup.initialize(app[SERVICES], "Acme", "admin", PASSWORD)
        base = str(server.make_url("")).rstrip("/")
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            body = {"username": "admin", "password": PASSWORD}
            async with http.post(f"{base}/api/auth/login", json=body) as r:
                assert r.status == 200
            yield Running(base, http)
    finally:
        await server.close()


@pytest.fixture
async def with_helper(
    tmp_path: Path, helper: tuple[Path, queue.Queue[Reply]]
) -> AsyncIterator[tuple[Running, queue.Queue[Reply]]]:
    data = tmp_path / "data"
    data.mkdir()
    async for running in _running(data, helper[0]):
        yield running, helper[1]


@pytest.fixture
async def without_helper(tmp_path: Path) -> AsyncIterator[Running]:
    data = tmp_path / "data"
    data.mkdir()
    async for running in _running(data, tmp_path / "absent.sock"):
        yield running


def _reply(replies: queue.Queue[Reply]) -> Reply:
    return replies.get(timeout=10)


async def _next_reply(replies: queue.Queue[Reply]) -> Reply:
    return await asyncio.to_thread(_reply, replies)


async def test_rename_sets_the_hostname(with_helper: tuple[Running, queue.Queue[Reply]]) -> None:
    running, replies = with_helper
    status, found = await running.call("PATCH", "/api/admin/device", {"name": "Office"})
    assert status == 200, found
    assert found["name"] == "office"
    assert found["hostname"] == {"name": "office", "changed": True, "reason": None, "message": None}
    reply = await _next_reply(replies)
    assert reply.ok and "hostnamectl set-hostname office" in reply.message


async def test_reboot_and_shutdown_answer_first_then_ask_the_helper(
    with_helper: tuple[Running, queue.Queue[Reply]],
) -> None:
    running, replies = with_helper
    status, body = await running.call("POST", "/api/admin/device/reboot")
    assert status == 202 and body == {"action": "reboot", "accepted": True}
    reply = await _next_reply(replies)
    assert reply.ok and reply.message == "dry run: run systemctl --no-block reboot"
    status, body = await running.call("POST", "/api/admin/device/shutdown")
    assert status == 202 and body["action"] == "shutdown"
    reply = await _next_reply(replies)
    assert reply.ok and reply.message == "dry run: run systemctl --no-block poweroff"


async def test_wifi_is_validated_and_the_passphrase_never_shows(
    with_helper: tuple[Running, queue.Queue[Reply]], caplog: pytest.LogCaptureFixture
) -> None:
    running, replies = with_helper
    wifi = {"country": "DE", "ssid": "Büro", "passphrase": SECRET}
    with caplog.at_level(logging.DEBUG):
        status, body = await running.call("PUT", "/api/admin/device/wifi", wifi)
    assert status == 200, body
    assert body == {"country": "DE", "ssid": "Büro", "applied": True}
    reply = await _next_reply(replies)
    assert reply.ok and "pychat-wifi" in reply.message
    assert SECRET not in caplog.text and SECRET not in str(body)

    for field, value, message in [
        ("country", "de", "country: "),
        ("country", "DEU", "country: "),
        ("ssid", "x" * 33, "ssid: "),
        ("passphrase", "x" * 65, "passphrase: "),
        ("ssid", "", "ssid: "),
        ("passphrase", "short", "passphrase: "),
    ]:
        status, body = await running.call("PUT", "/api/admin/device/wifi", {**wifi, field: value})
        assert status == 400, body
        assert body["error"]["message"].startswith(message)
        assert SECRET not in str(body)
    status, body = await running.call("PUT", "/api/admin/device/wifi", {"country": "DE"})
    assert status == 400
    assert replies.empty()  # nothing invalid reached the helper


async def test_without_a_helper(without_helper: Running) -> None:
    running = without_helper
    status, found = await running.call("PATCH", "/api/admin/device", {"name": "office"})
    assert status == 200 and found["name"] == "office"
    hostname = found["hostname"]
    assert hostname["changed"] is False and hostname["reason"] == "unavailable"
    assert "privileged helper" in hostname["message"]
    for action in ("reboot", "shutdown"):
        status, body = await running.call("POST", f"/api/admin/device/{action}")
        assert status == 503 and body["error"]["code"] == "unavailable", body
        assert "privileged helper" in body["error"]["message"]
    wifi = {"country": "DE", "ssid": "Office", "passphrase": SECRET}
    status, body = await running.call("PUT", "/api/admin/device/wifi", wifi)
    assert status == 503 and body["error"]["code"] == "unavailable"
    assert SECRET not in str(body)


async def test_a_refusing_helper_is_a_bad_gateway(tmp_path: Path) -> None:
    """A helper that does not serve this uid answers `forbidden`: 502."""
    path = tmp_path / "refusing.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen()

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                handle_connection(conn, executor=DryRun(), allowed=frozenset({os.getuid() + 1}))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    data = tmp_path / "data"
    data.mkdir()
    try:
        async for running in _running(data, path):
            wifi = {"country": "DE", "ssid": "Office", "passphrase": SECRET}
            status, body = await running.call("PUT", "/api/admin/device/wifi", wifi)
            assert status == 502 and body["error"]["code"] == "forbidden", body
    finally:
        listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        thread.join(5)


async def test_a_factory_reset_brings_back_the_first_boot(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    init_data(data)
    srv = Server(data, env=TEST_ENV).start()
    try:
        async with aiohttp.ClientSession() as http, http.get(srv.url + "/api/health") as r:
            assert (await r.json())["setup"] is True
        done = pychat("factory-reset", "--yes", data=data)
        assert done.returncode == 1 and "stop it first" in done.stderr
    finally:
        assert srv.stop() == 0
    assert (data / "pychat.db").exists()

    done = pychat("factory-reset", data=data)
    assert done.returncode == 2 and "--yes" in done.stderr
    done = pychat("factory-reset", "--yes", data=data)
    assert done.returncode == 0, done.stderr
    assert "pychat.db" in done.stdout and "rm -rf" in done.stdout
    (aside,) = data.glob("factory-reset-*")
    assert (aside / "pychat.db").exists() and not (data / "pychat.db").exists()

    srv = Server(data, env=TEST_ENV).start()
    try:
        async with aiohttp.ClientSession() as http, http.get(srv.url + "/api/health") as r:
            assert (await r.json())["setup"] is False
        code = (data / "claim-code.txt").read_text().strip()
        assert f"Claim code for the setup page: {code}" in srv.log()
    finally:
        srv.stop()
