"""Retrying a send: the same `client_id` from the same author is one message, whatever
happens to the connection in between (design.md §3, the SPA outbox relies on it)."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from tests.client import Client, Socket
from tests.conftest import UserFactory, new_room

Frame = dict[str, Any]


async def history(client: Client, room_id: int) -> list[Frame]:
    payload = await client.get(f"/api/rooms/{room_id}/messages?limit=200")
    assert not payload["has_more"]
    return payload["messages"]  # type: ignore[no-any-return]


async def new_messages_before_marker(sock: Socket, room_id: int, marker_id: int) -> list[Frame]:
    """Every message.new of the room up to and including the marker message, in order."""
    got: list[Frame] = []
    while True:
        event = await sock.event("message.new", room=room_id)
        got.append(event["data"]["message"])
        if event["data"]["message"]["id"] == marker_id:
            return got


async def test_a_retried_send_returns_the_original_and_stores_it_once(
    make_user: UserFactory,
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await new_room(alice, bob)
    a, b = await alice.connect(), await bob.connect()
    cid = uuid.uuid4().hex

    first = await a.send_message(room["id"], "only once", client_id=cid)
    again = await a.send_message(room["id"], "only once", client_id=cid)
    changed = await a.send_message(room["id"], "a different body", client_id=cid)

    assert again == first and changed == first
    assert first["client_id"] == cid and first["body"] == "only once"
    marker = await a.send_message(room["id"], "marker")
    assert await new_messages_before_marker(b, room["id"], marker["id"]) == [first, marker]
    assert [m["id"] for m in await history(bob, room["id"])] == [first["id"], marker["id"]]


async def test_the_same_send_from_two_tabs_at_once_is_one_message(make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await new_room(alice, bob)
    tab1, tab2 = await alice.connect(), await alice.connect()
    b = await bob.connect()
    cids = [uuid.uuid4().hex for _ in range(20)]

    replies = await asyncio.gather(
        *(
            tab.send_message(room["id"], f"msg {cid}", client_id=cid)
            for cid in cids
            for tab in (tab1, tab2, tab1, tab2)
        )
    )

    by_cid: dict[str, set[int]] = {}
    for reply in replies:
        by_cid.setdefault(reply["client_id"], set()).add(reply["id"])
    assert sorted(by_cid) == sorted(cids)
    assert all(len(ids) == 1 for ids in by_cid.values()), by_cid
    marker = await tab1.send_message(room["id"], "marker")
    seen = await new_messages_before_marker(b, room["id"], marker["id"])
    assert sorted(m["client_id"] for m in seen[:-1]) == sorted(cids)
    stored = await history(bob, room["id"])
    assert len(stored) == len(cids) + 1
    assert sorted(m["client_id"] for m in stored[:-1]) == sorted(cids)


async def test_a_send_whose_reply_was_lost_is_not_duplicated_by_the_retry(
    make_user: UserFactory,
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await new_room(alice, bob)
    b = await bob.connect()
    a = await alice.connect()
    cid = uuid.uuid4().hex
    frame = {"type": "message.send", "room": room["id"], "body": "outbox", "client_id": cid}
    # The connection drops right after the send: the reply (if any) never reaches us.
    await a.ws.send_str(json.dumps({**frame, "req": "lost"}))
    await a.close()

    again = await alice.connect()
    retried = await again.send_message(room["id"], "outbox", client_id=cid)
    retried_twice = await again.send_message(room["id"], "outbox", client_id=cid)

    assert retried == retried_twice and retried["client_id"] == cid
    marker = await again.send_message(room["id"], "marker")
    assert await new_messages_before_marker(b, room["id"], marker["id"]) == [retried, marker]
    assert [m["id"] for m in await history(alice, room["id"])] == [retried["id"], marker["id"]]


async def test_a_retry_after_reconnecting_returns_the_acknowledged_message(
    make_user: UserFactory,
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await new_room(alice, bob)
    a = await alice.connect()
    cid = uuid.uuid4().hex
    first = await a.send_message(room["id"], "sent before the drop", client_id=cid)
    seq = (await a.event("message.new", room=room["id"]))["seq"]
    await a.close()

    back = await alice.connect(since=seq)
    retried = await back.send_message(room["id"], "sent before the drop", client_id=cid)

    assert retried == first
    b = await bob.connect(since=seq - 1)  # bob replays from just before the message
    marker = await back.send_message(room["id"], "marker")
    assert await new_messages_before_marker(b, room["id"], marker["id"]) == [first, marker]
    assert [m["id"] for m in await history(bob, room["id"])] == [first["id"], marker["id"]]


async def test_the_same_client_id_from_another_user_is_another_message(
    make_user: UserFactory,
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await new_room(alice, bob)
    a, b = await alice.connect(), await bob.connect()
    cid = "shared-client-id-1"

    from_alice = await a.send_message(room["id"], "from alice", client_id=cid)
    from_bob = await b.send_message(room["id"], "from bob", client_id=cid)

    assert from_alice["id"] != from_bob["id"]
    assert (from_alice["author"], from_bob["author"]) == (alice.id, bob.id)
    assert from_bob["body"] == "from bob" and from_bob["client_id"] == cid
    assert await b.send_message(room["id"], "from bob", client_id=cid) == from_bob
    stored = await history(alice, room["id"])
    assert [(m["author"], m["body"]) for m in stored] == [
        (alice.id, "from alice"),
        (bob.id, "from bob"),
    ]


async def test_a_client_id_reused_in_another_room_returns_the_original(
    make_user: UserFactory,
) -> None:
    """client_id is unique per author: a retry never lands a second copy anywhere."""
    alice, bob = await make_user("alice"), await make_user("bob")
    room1, room2 = await new_room(alice, bob), await new_room(alice, bob)
    a = await alice.connect()
    cid = uuid.uuid4().hex

    first = await a.send_message(room1["id"], "hello", client_id=cid)
    elsewhere = await a.send_message(room2["id"], "hello", client_id=cid)

    assert elsewhere == first
    assert await history(alice, room2["id"]) == []
