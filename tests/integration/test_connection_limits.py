"""Connections an attacker holds open (issue 13, item 4): half-sent requests from other
loopback addresses while people are signed in. The real server, real sockets: the attacker
binds 127.0.0.2 and 127.0.0.3 as its source addresses; everyone else comes from 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import ssl
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import aiohttp
import psutil
from aiohttp import web

from appliance.config import Settings, load_settings
from appliance.tls.device import DeviceTls
from appliance.tls.renewal import tls_renewal
from appliance.web.appliance_sites import start_appliance_sites
from tests.client import Client
from tests.conftest import People, new_room, people_on
from tests.server import Server
from tests.waiting import wait_until

HALF_REQUEST = b"GET /api/health HTTP/1.1\r\nHost: pychat\r\nUser-Ag"
PER_ADDRESS = 20
TOTAL = 30
HEADER_TIMEOUT_S = 3.0
LIMITS = {
    "PYCHAT_SERVER_HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S),
    "PYCHAT_SERVER_CONNECTIONS_PER_IP": str(PER_ADDRESS),
    "PYCHAT_SERVER_MAX_CONNECTIONS": str(TOTAL),
}
# How long any expected close may take before the test fails: a liveness bound only.
CLOSED_WITHIN_S = 30.0


@dataclass
class Held:
    """One attacking connection: what the server sent before it closed it."""

    writer: asyncio.StreamWriter
    received: bytearray = field(default_factory=bytearray)
    closed: asyncio.Event = field(default_factory=asyncio.Event)


async def hold(host: str, port: int, source: str) -> Held:
    reader, writer = await asyncio.open_connection(host, port, local_addr=(source, 0))
    held = Held(writer)
    writer.write(HALF_REQUEST)

    async def drain() -> None:
        try:
            while chunk := await reader.read(4096):
                held.received += chunk
        except OSError:
            pass  # a reset is a close too
        finally:
            held.closed.set()

    asyncio.get_running_loop().create_task(drain())
    return held


async def read_to_close(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sent before it closed the connection (a reset is a close)."""
    got = bytearray()
    with contextlib.suppress(OSError):
        while chunk := await reader.read(4096):
            got += chunk
    return bytes(got)


def address(srv: Server) -> tuple[str, int]:
    host, port = srv.url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def server_fds(srv: Server) -> int:
    assert srv.proc is not None
    return int(psutil.Process(srv.proc.pid).num_fds())


async def test_health_and_signed_in_people_are_served_while_idle_connections_flood_in(
    make_server: Callable[..., Server],
) -> None:
    srv = make_server(LIMITS)
    host, port = address(srv)
    people = cast(AsyncGenerator[People, None], people_on(srv.url))  # closed below
    make = await anext(people)
    try:
        alice, bob = await make("alice"), await make("bob")
        room = await new_room(alice, bob)
        alice_ws, bob_ws = await alice.connect(), await bob.connect()
        fds_before = server_fds(srv)

        # Twice the per-address cap from each of two addresses: more than the total cap.
        attack = await asyncio.gather(
            *(hold(host, port, f"127.0.0.{n}") for n in (2, 3) for _ in range(2 * PER_ADDRESS))
        )
        try:
            # The server holds no more than its caps, and says why to those it refuses.
            await wait_until(
                lambda: sum(not h.closed.is_set() for h in attack) <= TOTAL,
                what="the attacker holds no more than the total cap",
            )
            refused = [h for h in attack if b" 429 " in h.received[:20]]
            assert refused, "no connection over the per-address cap was told so"
            error = json.loads(bytes(refused[0].received).split(b"\r\n\r\n", 1)[1])
            assert error["error"]["code"] == "rate_limited"
            assert server_fds(srv) <= fds_before + TOTAL + 5

            # Health answers from another address, and signed-in people go on talking.
            held_now = sum(not h.closed.is_set() for h in attack)
            newcomer = Client(srv.url)  # a new connection, not one kept alive from before
            try:
                assert (await newcomer.get("/api/health"))["status"] == "ok"
            finally:
                await newcomer.close()
            sent = await alice_ws.send_message(room["id"], "still here")
            got = await bob_ws.event("message.new", room=room["id"])
            assert got["data"]["message"]["id"] == sent["id"]
            assert held_now > TOTAL // 2, "the attack did not fill the server"

            # The half-sent requests are closed once the header timeout has passed.
            await asyncio.wait_for(
                asyncio.gather(*(h.closed.wait() for h in attack)), CLOSED_WITHIN_S
            )
            assert all(b"HTTP/1.1 200" not in h.received for h in attack)
            # The signed-in sockets were not taken for idle ones.
            assert not alice_ws.closed.is_set() and not bob_ws.closed.is_set()
            await bob_ws.send_message(room["id"], "after")
            assert (await alice_ws.event("message.new", room=room["id"]))["data"]["message"]
        finally:
            for h in attack:
                h.writer.transport.abort()
    finally:
        await people.aclose()
    log = srv.log()
    assert "Traceback" not in log, log
    # A few summary lines, never one per connection.
    assert len([line for line in log.splitlines() if "connections" in line]) < 10, log


async def test_a_slow_request_head_is_closed_but_a_quick_one_is_answered(
    make_server: Callable[..., Server],
) -> None:
    srv = make_server(LIMITS)
    host, port = address(srv)
    slow = await hold(host, port, "127.0.0.2")
    reader, writer = await asyncio.open_connection(host, port, local_addr=("127.0.0.2", 0))
    try:
        writer.write(b"GET /api/health HTTP/1.1\r\nHost: pychat\r\nConnection: close\r\n\r\n")
        answer = await asyncio.wait_for(reader.read(), CLOSED_WITHIN_S)
        assert answer.startswith(b"HTTP/1.1 200"), answer
        await asyncio.wait_for(slow.closed.wait(), CLOSED_WITHIN_S)
        assert slow.received == b""  # closed, not answered
    finally:
        writer.close()
        slow.writer.transport.abort()


async def test_running_out_of_descriptors_logs_a_count_not_a_flood(
    make_server: Callable[..., Server],
) -> None:
    # The caps above the descriptor limit on purpose: accept() itself fails (EMFILE).
    srv = make_server({"PYCHAT_SERVER_MAX_CONNECTIONS": "100000"})
    host, port = address(srv)
    assert srv.proc is not None
    proc = psutil.Process(srv.proc.pid)
    soft, hard = proc.rlimit(resource.RLIMIT_NOFILE)
    proc.rlimit(resource.RLIMIT_NOFILE, (proc.num_fds() + 10, hard))
    attack: list[Held] = []
    try:
        for _ in range(60):
            attack.append(await hold(host, port, "127.0.0.2"))
        await wait_until(lambda: "accept" in srv.log(), what="the server ran out of descriptors")
    finally:
        for h in attack:
            h.writer.transport.abort()
        proc.rlimit(resource.RLIMIT_NOFILE, (soft, hard))
    # It recovers by itself...
    newcomer = Client(srv.url)
    try:
        assert (await newcomer.get("/api/health"))["status"] == "ok"
    finally:
        await newcomer.close()
    # ...and said so in one line with a count, not a traceback per accept().
    log = srv.log()
    accept_lines = [line for line in log.splitlines() if "accept" in line]
    assert len(accept_lines) == 1, log[-3000:]
    assert "EMFILE" in accept_lines[0]
    assert "Traceback" not in log, log[-3000:]


def _appliance_settings(data: Path) -> Settings:
    return load_settings(
        data,
        environ={},
        overrides={
            "server.mode": "appliance",
            "server.https_listen": "127.0.0.1:0",
            "server.http_listen": "127.0.0.1:0",
            "server.tls_handshake_timeout_s": "1",
            "server.header_timeout_s": "1",
            "server.connections_per_ip": "4",
            "discovery.mdns": "off",
        },
    )


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def test_https_closes_late_handshakes_and_late_heads_and_caps_each_address(
    tmp_path: Path,
) -> None:
    """The HTTPS and redirecting HTTP sites, served the appliance way in this process."""

    async def device_name() -> str:
        return "office"

    device = DeviceTls(tmp_path, device_name=device_name, addresses=lambda: [])
    app = web.Application()
    app.router.add_get("/api/health", _health)
    app.cleanup_ctx.append(tls_renewal(device))
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    sites = await start_appliance_sites(runner, _appliance_settings(tmp_path), device)
    trusting = ssl.create_default_context(cafile=str(tmp_path / "tls" / "ca.crt"))
    opened: list[asyncio.StreamWriter] = []
    try:
        # No handshake at all, and a handshake followed by half a request: both closed.
        silent = [
            (await asyncio.open_connection("127.0.0.1", sites.https_port, local_addr=(a, 0)))
            for a in ("127.0.0.2", "127.0.0.3")
        ]
        tls_reader, tls_writer = await asyncio.open_connection(
            "127.0.0.1",
            sites.https_port,
            ssl=trusting,
            server_hostname="office.local",
            local_addr=("127.0.0.3", 0),
        )
        tls_writer.write(HALF_REQUEST)
        opened += [w for _, w in silent] + [tls_writer]
        # One address over its cap on the HTTP site too (shared counts): closed at once.
        flood = [
            (
                await asyncio.open_connection(
                    "127.0.0.1", sites.http_port, local_addr=("127.0.0.2", 0)
                )
            )
            for _ in range(4)
        ]
        opened += [w for _, w in flood]
        # Meanwhile a client that does its part is served.
        url = f"https://127.0.0.1:{sites.https_port}/api/health"
        async with (
            aiohttp.ClientSession() as http,
            http.get(url, ssl=trusting, server_hostname="office.local") as resp,
        ):
            assert resp.status == 200
        # Each stalled connection is closed unanswered, long before asyncio's 60 s default.
        for reader in [r for r, _ in silent] + [tls_reader] + [r for r, _ in flood[:3]]:
            assert await asyncio.wait_for(read_to_close(reader), CLOSED_WITHIN_S) == b""
        over = await asyncio.wait_for(read_to_close(flood[3][0]), CLOSED_WITHIN_S)
        assert over.startswith(b"HTTP/1.1 429 "), over
    finally:
        for w in opened:
            w.transport.abort()
        await sites.stop()
        await runner.cleanup()
