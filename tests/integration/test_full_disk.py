"""A full disk (issue 13, item 8): every write is refused with `insufficient_storage` (HTTP
507, the same code in WebSocket replies), reads keep working, and writes work again by
themselves once space is freed. The data folder lives on a small tmpfs the test mounts, and
a filler file takes every free block."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.client import Client, Socket
from tests.conftest import USER_PASSWORD, new_room, people_on
from tests.integration.small_disk import fill
from tests.server import Server

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")

MAX_TRIES = 400  # writes that may still fit in space SQLite had already claimed


async def refused_send(sock: Socket, room: int) -> dict[str, Any]:
    """Send messages until one is refused (the first may still fit in pages SQLite had
    already claimed); the error of the one refused."""
    for _ in range(MAX_TRIES):
        reply = await sock.request(
            {
                "type": "message.send",
                "room": room,
                "body": "x" * 2000,
                "client_id": uuid.uuid4().hex,
            }
        )
        if not reply["ok"]:
            return reply["error"]  # type: ignore[no-any-return]
    raise AssertionError("every send was accepted on a full disk")


async def upload(client: Client) -> tuple[int, dict[str, Any]]:
    form = aiohttp.FormData()
    form.add_field("file", b"hello " * 2000, filename="note.txt", content_type="text/plain")
    async with client.http.post(client.base_url + "/api/uploads", data=form) as resp:
        return resp.status, await resp.json()


async def test_a_full_disk_refuses_writes_clearly_and_recovers(
    full_disk_server: Server, small_disk: Path
) -> None:
    server = full_disk_server
    async for make in people_on(server.url):
        alice, bob = await make("full"), await make("fullpeer")
        room = await new_room(alice, bob)
        sock = await alice.connect()
        before = await sock.send_message(room["id"], "written while there was room")
        filler = fill(small_disk)

        error = await refused_send(sock, room["id"])
        assert error["code"] == "insufficient_storage", error
        # Refused every time while the disk stays full, not only once.
        again = await sock.error(
            {"type": "message.send", "room": room["id"], "body": "y", "client_id": "again"}
        )
        assert again["code"] == "insufficient_storage", again
        status, payload = await bob.call(
            "POST", "/api/auth/login", {"username": bob.user["username"], "password": USER_PASSWORD}
        )
        assert (status, payload["error"]["code"]) == (507, "insufficient_storage"), payload
        status, payload = await upload(alice)
        assert (status, payload["error"]["code"]) == (507, "insufficient_storage"), payload
        # Reading still works: history, the room list, the health check.
        history = await bob.get(f"/api/rooms/{room['id']}/messages")
        assert before["id"] in [m["id"] for m in history["messages"]]
        assert any(r["id"] == room["id"] for r in (await bob.get("/api/rooms"))["rooms"])
        assert (await bob.get("/api/health"))["status"] == "ok"

        filler.unlink()

        after = await sock.send_message(room["id"], "written after space was freed")
        fresh = await Client(server.url).login(bob.user["username"], USER_PASSWORD)
        await fresh.close()
        status, payload = await upload(alice)
        assert status == 201, payload
        history = await bob.get(f"/api/rooms/{room['id']}/messages")
        assert after["id"] in [m["id"] for m in history["messages"]]
    assert "Traceback" not in server.log(), server.log()[-3000:]
