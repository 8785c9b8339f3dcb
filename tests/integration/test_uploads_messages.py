"""Files on messages: attachments everywhere a message appears, retries, deletes that
release files, and uploads nobody sent being cleared away."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable

from tests.conftest import UserFactory, new_room
from tests.integration.uploading import (
    admin_of,
    fetch,
    stored_blobs,
    upload,
)
from tests.recordings import recording
from tests.server import Server
from tests.waiting import wait_until


async def test_attachments_in_send_events_history_thread_search_and_replay(
    make_user: UserFactory,
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await new_room(alice, bob)
    a, b = await alice.connect(), await bob.connect()
    since = b.hello_reply["data"]["head"]
    voice = await upload(
        alice, recording(1), name="voice.webm", content_type="audio/webm", duration_ms=3100
    )
    doc = await upload(alice, b"%PDF-1.4\n", name="a.pdf")
    client_id = uuid.uuid4().hex
    sent = await a.send_message(
        room["id"], "", attachments=[voice["id"], doc["id"]], client_id=client_id
    )
    assert sent["body"] == ""
    assert [f["id"] for f in sent["attachments"]] == [voice["id"], doc["id"]]
    assert sent["attachments"][0] == voice

    live = await b.event("message.new", room=room["id"])
    assert live["data"]["message"]["attachments"] == sent["attachments"]
    page = await bob.get(f"/api/rooms/{room['id']}/messages")
    assert page["messages"][-1]["attachments"] == sent["attachments"]

    # A retry (the outbox after a dropped connection) returns the original, files and all.
    again = await a.send_message(
        room["id"], "", attachments=[voice["id"], doc["id"]], client_id=client_id
    )
    assert again == sent

    # A thread reply with a file and text; found by search and in the thread.
    word = "zq" + uuid.uuid4().hex[:8]
    pic = await upload(
        alice,
        recording(0.5, video=True, size=(64, 48)),
        name="clip.webm",
        content_type="video/webm",
    )
    assert pic["mime"] == "video/webm"
    reply = await a.send_message(
        room["id"], f"see {word}", thread=sent["id"], attachments=[pic["id"]]
    )
    thread = await bob.get(f"/api/messages/{sent['id']}/thread")
    assert thread["replies"][0]["attachments"][0]["id"] == pic["id"]
    found = await bob.get("/api/search", params={"q": word})
    assert found["messages"][0]["id"] == reply["id"]
    assert found["messages"][0]["attachments"][0]["id"] == pic["id"]

    # A plain message still has an empty list.
    plain = await a.send_message(room["id"], "no files")
    assert plain["attachments"] == []

    # Replay after a reconnect carries the attachments too.
    late = await bob.connect(since=since)
    replayed = await late.event("message.new", room=room["id"])
    assert replayed["data"]["message"]["attachments"] == sent["attachments"]


async def test_only_own_unsent_uploads_can_be_attached(make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await new_room(alice, bob)
    a, b = await alice.connect(), await bob.connect()
    mine = await upload(alice, b"alice's file")
    theirs = await upload(bob, b"bob's file")

    error = await a.error(
        {
            "type": "message.send",
            "room": room["id"],
            "body": "x",
            "client_id": uuid.uuid4().hex,
            "attachments": [theirs["id"]],
        }
    )
    assert error["code"] == "not_found"
    # Nothing was stored by the refused send, and bob still cannot read alice's file.
    assert (await bob.get(f"/api/rooms/{room['id']}/messages"))["messages"] == []
    assert (await fetch(bob, mine["url"]))[0] == 404

    await a.send_message(room["id"], "once", attachments=[mine["id"]])
    error = await a.error(
        {
            "type": "message.send",
            "room": room["id"],
            "body": "twice",
            "client_id": uuid.uuid4().hex,
            "attachments": [mine["id"]],
        }
    )
    assert error["code"] == "not_found"

    many = [(await upload(alice, os.urandom(10)))["id"] for _ in range(11)]
    error = await a.error(
        {
            "type": "message.send",
            "room": room["id"],
            "body": "",
            "client_id": uuid.uuid4().hex,
            "attachments": many,
        }
    )
    assert error["code"] == "bad_request" and "10" in error["message"]
    # Without files a message still needs text.
    error = await a.error(
        {
            "type": "message.send",
            "room": room["id"],
            "body": " ",
            "client_id": uuid.uuid4().hex,
            "attachments": [],
        }
    )
    assert error["code"] == "bad_request"
    del b


async def test_deleting_a_message_releases_its_files(make_server: Callable[..., Server]) -> None:
    srv = make_server()
    admin = await admin_of(srv)
    try:
        room = (await admin.get("/api/rooms"))["rooms"][0]["id"]
        sock = await admin.connect()
        same = os.urandom(20_000)
        first = await upload(admin, same, name="one.bin")
        second = await upload(admin, same, name="two.bin")
        m1 = await sock.send_message(room, "", attachments=[first["id"]])
        m2 = await sock.send_message(room, "", attachments=[second["id"]])
        assert len(stored_blobs(srv)) == 1  # identical bytes stored once

        deleted = await sock.ok({"type": "message.delete", "message": m1["id"]})
        assert deleted["message"]["attachments"] == []
        assert (await fetch(admin, first["url"]))[0] == 404
        # The other message still uses the bytes.
        assert (await fetch(admin, second["url"]))[:2] == (200, same)
        assert len(stored_blobs(srv)) == 1

        await sock.ok({"type": "message.delete", "message": m2["id"]})
        assert (await fetch(admin, second["url"]))[0] == 404
        assert stored_blobs(srv) == []
    finally:
        await admin.close()


async def test_a_deleted_file_link_never_serves_a_later_upload(
    make_user: UserFactory,
) -> None:
    """A deleted message's file link stays dead: the next upload, by anyone, gets an id
    never used before (SQLite gives a freed highest rowid out again without AUTOINCREMENT)."""
    alice, bob = await make_user("alice"), await make_user("bob")
    room = (await new_room(alice, bob))["id"]
    a, b = await alice.connect(), await bob.connect()
    secret = await upload(alice, b"the draft alice deleted", name="draft.txt")
    sent = await a.send_message(room, "", attachments=[secret["id"]])
    await a.ok({"type": "message.delete", "message": sent["id"]})
    assert (await fetch(bob, secret["url"]))[0] == 404

    later = await upload(bob, b"bob's holiday plan", name="draft.txt")
    await b.send_message(room, "", attachments=[later["id"]])
    assert later["id"] != secret["id"]
    assert (await fetch(bob, secret["url"]))[0] == 404
    assert (await fetch(alice, later["url"]))[:2] == (200, b"bob's holiday plan")


async def test_uploads_never_sent_are_removed_after_the_ttl(
    make_server: Callable[..., Server],
) -> None:
    srv = make_server({"PYCHAT_UPLOADS_UNATTACHED_TTL_S": "2"})
    admin = await admin_of(srv)
    try:
        room = (await admin.get("/api/rooms"))["rooms"][0]["id"]
        sock = await admin.connect()
        forgotten = await upload(admin, os.urandom(3000), name="forgotten.bin")
        kept = await upload(admin, os.urandom(3000), name="kept.bin")
        await sock.send_message(room, "kept", attachments=[kept["id"]])
        assert len(stored_blobs(srv)) == 2

        async def forgotten_is_gone() -> bool:
            return (await fetch(admin, forgotten["url"]))[0] == 404

        await wait_until(forgotten_is_gone, what="the unsent upload is removed", timeout=30)
        assert len(stored_blobs(srv)) == 1
        assert (await fetch(admin, kept["url"]))[0] == 200
        # Sending a removed upload later fails cleanly.
        error = await sock.error(
            {
                "type": "message.send",
                "room": room,
                "body": "late",
                "client_id": uuid.uuid4().hex,
                "attachments": [forgotten["id"]],
            }
        )
        assert error["code"] == "not_found"
    finally:
        await admin.close()


async def test_a_caption_may_be_removed_from_a_message_with_files(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    room = await new_room(alice)
    sock = await alice.connect()
    sent = await upload(alice, b"%PDF-1.4\n", name="plan.pdf")
    message = await sock.send_message(room["id"], "the plan", attachments=[sent["id"]])
    edited = (await sock.ok({"type": "message.edit", "message": message["id"], "body": ""}))[
        "message"
    ]
    assert edited["body"] == "" and edited["attachments"][0]["id"] == sent["id"]
    plain = await sock.send_message(room["id"], "text only")
    error = await sock.error({"type": "message.edit", "message": plain["id"], "body": ""})
    assert error["code"] == "bad_request"
