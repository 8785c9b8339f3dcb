"""Files on the data folder every node shares: a node that starts leaves another's upload
under way alone, and the same bytes uploaded through one node while another lets them go
are never left pointing at a removed file (web/api_uploads.py, chat/uploads.py)."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from tests.cluster.serving import NodeFactory, make_people
from tests.conftest import new_room
from tests.integration.test_avatars import put_avatar, square_jpeg
from tests.integration.uploading import fetch, temp_files, upload
from tests.server import Server
from tests.waiting import wait_until

ROUNDS = 12


async def test_a_node_that_starts_leaves_an_upload_under_way_on_another_alone(
    nodes: NodeFactory, people: Callable[[Server, str], Any]
) -> None:
    first = nodes()
    (alice_name,) = await make_people(first, "alice")
    alice = await people(first, alice_name)
    data = os.urandom(300_000)
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="plan.bin"'
        "\r\nContent-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    go_on = asyncio.Event()

    async def body() -> AsyncIterator[bytes]:
        yield head + data[:100_000]
        await go_on.wait()  # the rest once the second node has started
        yield data[100_000:] + tail

    async def send() -> tuple[int, Any]:
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        async with alice.http.post(
            first.url + "/api/uploads", data=body(), headers=headers
        ) as resp:
            return resp.status, await resp.json()

    sending = asyncio.create_task(send())
    await wait_until(lambda: temp_files(first), what="the upload is being received")
    second = nodes()  # its start prepares the shared folder
    go_on.set()
    status, answer = await sending
    assert status == 201, answer
    bob_side = await people(second, alice_name)
    status, got, _ = await fetch(bob_side, answer["upload"]["url"])
    assert status == 200 and got == data


async def test_the_same_bytes_sent_through_one_node_while_another_lets_them_go_stay_whole(
    nodes: NodeFactory, people: Callable[[Server, str], Any]
) -> None:
    """Alice sends a file and deletes her message (its file goes) through one node while Bob
    sends the very same bytes through the other, again and again: every message still
    there serves its file."""
    first, second = nodes(), nodes()
    alice_name, bob_name = await make_people(first, "alice", "bob")
    alice, bob = await people(first, alice_name), await people(second, bob_name)
    room = (await new_room(alice, bob))["id"]
    a, b = await alice.connect(), await bob.connect()
    kept: list[tuple[dict[str, Any], bytes]] = []
    for i in range(ROUNDS):
        data = f"round {i} ".encode() * 1000

        async def alice_lets_go(data: bytes = data) -> None:
            file = await upload(alice, data)
            sent = await a.send_message(room, "", attachments=[file["id"]])
            await a.ok({"type": "message.delete", "message": sent["id"]})

        async def bob_sends(data: bytes = data) -> None:
            file = await upload(bob, data)
            await b.send_message(room, "mine", attachments=[file["id"]])
            kept.append((file, data))

        await asyncio.gather(alice_lets_go(), bob_sends())
    for file, data in kept:
        for client in (alice, bob):
            status, got, _ = await fetch(client, file["url"])
            assert status == 200 and got == data, file


async def test_a_picture_set_through_one_node_while_another_drops_it_stays(
    nodes: NodeFactory, people: Callable[[Server, str], Any]
) -> None:
    """Alice sets a profile picture and takes it off through one node while Bob sets the
    very same picture through the other: Bob's picture is still served."""
    first, second = nodes(), nodes()
    alice_name, bob_name = await make_people(first, "alice", "bob")
    alice, bob = await people(first, alice_name), await people(second, bob_name)
    for i in range(ROUNDS):
        picture = square_jpeg(f"#{i * 20:02x}8040")

        async def alice_drops_it(picture: bytes = picture) -> None:
            status, _ = await put_avatar(alice, "/api/me/avatar", picture)
            assert status == 200
            status, _ = await alice.call("DELETE", "/api/me/avatar")
            assert status == 200

        async def bob_sets_it(picture: bytes = picture) -> str:
            status, body = await put_avatar(bob, "/api/me/avatar", picture)
            assert status == 200
            return str(body["user"]["avatar_url"])

        _, url = await asyncio.gather(alice_drops_it(), bob_sets_it())
        status, got, _ = await fetch(alice, url)
        assert status == 200 and got[:4] == b"RIFF", (i, url)


async def test_a_starting_node_removes_old_stray_files_and_keeps_the_ones_in_use(
    nodes: NodeFactory, people: Callable[[Server, str], Any]
) -> None:
    """The sweep of stray files (a power cut between a file's move into place and its row)
    runs at each node's start, each file under its lock on PostgreSQL."""
    first = nodes()
    (alice_name,) = await make_people(first, "alice")
    alice = await people(first, alice_name)
    data = b"in use, and old"
    kept = await upload(alice, data)
    files = first.data / "files"
    stray_hash = "ab" + "0" * 62
    stray = files / stray_hash[:2] / stray_hash[2:]
    stray.parent.mkdir(exist_ok=True)
    stray.write_bytes(b"nothing refers to me")
    two_hours_ago = time.time() - 7200
    for path in files.glob("??/*"):
        os.utime(path, (two_hours_ago, two_hours_ago))
    nodes()  # its start sweeps
    await wait_until(lambda: not stray.exists(), what="the stray file is removed")
    status, got, _ = await fetch(alice, kept["url"])
    assert status == 200 and got == data
