"""Deleted means deleted: once a message is deleted or edited, its old text, mentions and
files are gone from everything the server hands out or keeps: replay of the event log
(even to someone who joins later), search, file URLs, the database file and its backups.

The earlier events are redacted, not removed: they keep their seq, so a replay is still
exact and gap-free, but carry the message as it now is (docs/api.md, "Redaction").
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.client import Client, Socket
from tests.conftest import new_room, people_on
from tests.integration.uploading import fetch, png, stored_blobs, upload
from tests.server import Server, pychat

Frame = dict[str, Any]


@pytest.fixture
async def people(make_server: Callable[..., Server]) -> AsyncIterator[tuple[Server, Any]]:
    """A server of the test's own, so `hello since=0` replays its whole log."""
    srv = make_server()
    async for make in people_on(srv.url):
        yield srv, make


def secret(letter: str) -> str:
    """A word found nowhere else; tests look for its tail, which the search index stores
    whole even where it shares a prefix with the word before it."""
    return f"{letter}{uuid.uuid4().hex}"


def tail(word: str) -> bytes:
    return word[-20:].encode()


def frames_text(sock: Socket) -> str:
    return "\n".join(json.dumps(f, ensure_ascii=False) for f in sock.frames)


def message_events(sock: Socket, message_id: int) -> list[Frame]:
    return [
        f
        for f in sock.events()
        if f["kind"].startswith("message.") and f["data"]["message"]["id"] == message_id
    ]


def data_files(srv: Server) -> bytes:
    """The database as it sits in the data folder: the file and its write-ahead log."""
    found = b""
    for name in ("pychat.db", "pychat.db-wal"):
        path = srv.data / name
        if path.exists():
            found += path.read_bytes()
    return found


def thumbs(srv: Server) -> list[Path]:
    return sorted((srv.data / "files" / "thumbs").glob("*/*"))


async def search(client: Client, word: str) -> list[int]:
    found = await client.get("/api/search", params={"q": word})
    return [m["id"] for m in found["messages"]]


async def test_a_member_added_after_a_delete_never_replays_sees_or_finds_it(
    people: tuple[Server, Any],
) -> None:
    srv, make = people
    alice, bob, carol = await make("alice"), await make("bob"), await make("carol")
    room = await new_room(alice, bob)
    a, b = await alice.connect(), await bob.connect()
    word, file_word = secret("k"), secret("p")
    picture = await upload(alice, png((640, 480)), name=f"{file_word}.png")
    sent = await a.send_message(
        room["id"], f"the code is {word} @{bob.user['username']}", attachments=[picture["id"]]
    )
    original = await b.event("message.new", room=room["id"])
    assert word in original["data"]["message"]["body"]
    assert (await fetch(bob, picture["url"]))[0] == 200
    assert (await fetch(bob, picture["thumb_url"]))[0] == 200
    assert stored_blobs(srv) and thumbs(srv)
    assert await search(bob, word) == [sent["id"]]
    await b.ok({"type": "reaction.set", "message": sent["id"], "emoji": "👍", "on": True})

    gone = (await a.ok({"type": "message.delete", "message": sent["id"]}))["message"]
    await alice.post(f"/api/rooms/{room['id']}/members", {"user_ids": [carol.id]})

    # Carol joined after the deletion; Bob was there all along. Neither replay holds it.
    for client in (carol, bob):
        replay = await client.connect(since=0)
        text = frames_text(replay)
        assert word not in text and file_word not in text
        events = message_events(replay, sent["id"])
        # The original event is still there, at its seq, as the tombstone.
        assert [(e["seq"], e["kind"]) for e in events] == [
            (original["seq"], "message.new"),
            (events[-1]["seq"], "message.delete"),
        ]
        assert events[0]["data"]["message"] == {
            **original["data"]["message"],
            "body": "",
            "deleted": True,
            "mentions": [],
            "mention_room": False,
            "attachments": [],
            "edited_at": gone["edited_at"],
        }
        seqs = [e["seq"] for e in replay.events()]
        assert seqs == sorted(set(seqs))

    for client in (alice, bob, carol):
        assert await search(client, word) == []
        assert await search(client, file_word) == []
    # The file and its thumbnail are gone, for the uploader too, and from the disk.
    for client in (alice, bob):
        assert (await fetch(client, picture["url"]))[0] == 404
        assert (await fetch(client, picture["thumb_url"]))[0] == 404
    assert stored_blobs(srv) == [] and thumbs(srv) == []


async def test_a_member_added_after_an_edit_replays_only_the_current_text(
    people: tuple[Server, Any],
) -> None:
    _, make = people
    alice, bob, carol = await make("alice"), await make("bob"), await make("carol")
    room = await new_room(alice, bob)
    a, b = await alice.connect(), await bob.connect()
    first, second, final = secret("m"), secret("q"), secret("w")
    sent = await a.send_message(room["id"], f"meet at {first} @{bob.user['username']}")
    original = await b.event("message.new", room=room["id"])
    await a.ok({"type": "message.edit", "message": sent["id"], "body": f"no, at {second}"})
    edited = (await a.ok({"type": "message.edit", "message": sent["id"], "body": f"at {final}"}))[
        "message"
    ]
    await alice.post(f"/api/rooms/{room['id']}/members", {"user_ids": [carol.id]})

    replay = await carol.connect(since=0)
    text = frames_text(replay)
    assert first not in text and second not in text
    events = message_events(replay, sent["id"])
    assert [e["kind"] for e in events] == ["message.new", "message.edit", "message.edit"]
    assert events[0]["seq"] == original["seq"]
    for event in events:
        message = event["data"]["message"]
        assert (message["body"], message["mentions"]) == (f"at {final}", [])
        assert message["edited_at"] == edited["edited_at"]
    assert events[0]["data"]["message"]["created_at"] == sent["created_at"]

    for client in (alice, bob, carol):
        assert await search(client, first) == []
        assert await search(client, second) == []
        assert await search(client, final) == [sent["id"]]


async def test_a_backup_made_after_a_delete_or_edit_holds_no_old_text(
    people: tuple[Server, Any], tmp_path: Path
) -> None:
    srv, make = people
    alice, bob = await make("alice"), await make("bob")
    room = await new_room(alice, bob)
    a = await alice.connect()
    deleted_word, edited_word, kept_word = secret("d"), secret("e"), secret("s")
    # Other talk around it, sent in writes of their own: the search index then holds the
    # secret words in segments of their own that a later deletion does not touch.
    for i in range(40):
        await a.send_message(room["id"], f"chatter {i} {secret('c')}")
    # Each secret leads a long text: rewritten shorter in place, a row leaves its first
    # bytes behind in the page unless freed space is zeroed.
    gone = await a.send_message(room["id"], f"{deleted_word} is the password, keep it safe")
    changed = await a.send_message(room["id"], f"{edited_word} was a typo in this long line")
    await a.send_message(room["id"], f"stays {kept_word}")
    for i in range(40):
        await a.send_message(room["id"], f"chatter {i} {secret('c')}")

    before = tmp_path / "before.db"
    done = await asyncio.to_thread(pychat, "backup", "--out", str(before), data=srv.data)
    assert done.returncode == 0, done.stderr
    assert tail(deleted_word) in before.read_bytes()  # what the checks below look for

    await a.ok({"type": "message.delete", "message": gone["id"]})
    await a.ok({"type": "message.edit", "message": changed["id"], "body": "typo fixed"})

    after = tmp_path / "after.db"
    done = await asyncio.to_thread(pychat, "backup", "--out", str(after), data=srv.data)
    assert done.returncode == 0, done.stderr
    for data in (after.read_bytes(), data_files(srv)):
        assert tail(deleted_word) not in data
        assert tail(edited_word) not in data
        assert tail(kept_word) in data
