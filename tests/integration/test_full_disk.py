"""A full disk (issue 13, item 8): every write is refused with `insufficient_storage` (HTTP
507, the same code in WebSocket replies), reads keep working, and writes work again by
themselves once space is freed. The data folder lives on a small tmpfs the test mounts, and
a filler file takes every free block."""

from __future__ import annotations

import errno
import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.client import Client, Socket
from tests.conftest import TEST_ENV, USER_PASSWORD, new_room, people_on
from tests.server import Server, init_data

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")

SIZE_MB = 24  # the database, the upload store and some room to fill
MAX_TRIES = 400  # writes that may still fit in space SQLite had already claimed


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SIZE_MB}m,mode=0700", "tmpfs", str(mount)],
        check=True,
    )
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture
async def full_disk_server(small_disk: Path) -> AsyncIterator[Server]:
    data = small_disk / "data"
    data.mkdir()
    init_data(data)
    # No upload reserve: the test is about what happens when the disk really is full.
    server = Server(data, env={**TEST_ENV, "PYCHAT_UPLOADS_DISK_RESERVE_BYTES": "0"}).start()
    try:
        yield server
    finally:
        server.stop()


def fill(path: Path) -> None:
    """Write until the file system has not one block left."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 20, 1 << 12, 1):
            block = b"\0" * size
            while True:
                try:
                    os.write(fd, block)
                except OSError as e:
                    assert e.errno == errno.ENOSPC, e
                    break
    finally:
        os.close(fd)


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
        filler = small_disk / "filler"

        fill(filler)

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
