"""Files are removed only after the deletion commits: a deletion that fails (here, the
database cannot grow on a full disk) leaves the message and its file whole and served,
and the same deletion succeeds once there is room again."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.client import Client
from tests.conftest import new_room, people_on
from tests.integration.small_disk import fill
from tests.integration.uploading import fetch, png, stored_blobs, upload
from tests.server import Server


@pytest.fixture
async def people(full_disk_server: Server) -> AsyncIterator[tuple[Client, Client]]:
    async for make in people_on(full_disk_server.url):
        yield await make("alice"), await make("bob")


async def test_a_delete_that_cannot_commit_keeps_the_message_and_its_file(
    full_disk_server: Server, small_disk: Path, people: tuple[Client, Client]
) -> None:
    srv = full_disk_server
    alice, bob = people
    room = await new_room(alice, bob)
    a = await alice.connect()
    picture = await upload(alice, png((640, 480), "blue"), name="plan.png")
    sent = await a.send_message(room["id"], "the plan", attachments=[picture["id"]])
    status, original, _ = await fetch(bob, picture["url"])
    assert status == 200
    blobs = stored_blobs(srv)
    assert len(blobs) == 1

    filler = fill(small_disk)
    try:
        reply = await a.request({"type": "message.delete", "message": sent["id"]})
        assert not reply["ok"], reply
        # Nothing happened: the message, its file and its thumbnail are all still there.
        page = await bob.get(f"/api/rooms/{room['id']}/messages")
        held = {m["id"]: m for m in page["messages"]}[sent["id"]]
        assert (held["deleted"], held["body"]) == (False, "the plan")
        assert [f["id"] for f in held["attachments"]] == [picture["id"]]
        status, served, _ = await fetch(bob, picture["url"])
        assert (status, served) == (200, original)
        assert (await fetch(bob, picture["thumb_url"]))[0] == 200
        assert stored_blobs(srv) == blobs
    finally:
        with contextlib.suppress(FileNotFoundError):
            filler.unlink()

    # With room again, the same deletion goes through, and then the file goes.
    gone = (await a.ok({"type": "message.delete", "message": sent["id"]}))["message"]
    assert gone["deleted"] is True
    assert (await fetch(bob, picture["url"]))[0] == 404
    assert stored_blobs(srv) == []
