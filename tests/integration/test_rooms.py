"""Rooms: kinds, direct rooms, channels, membership, names and topics, unread counts, events."""

from __future__ import annotations

import uuid
from typing import Any

from tests.client import Client, Socket
from tests.conftest import UserFactory, new_room


async def my_rooms(client: Client) -> dict[int, dict[str, Any]]:
    return {r["id"]: r for r in (await client.get("/api/rooms"))["rooms"]}


async def barrier(sock: Socket) -> None:
    """A ping round trip: every event published before it is now in `sock.frames`."""
    await sock.ok({"type": "ping"})


def room_frames(sock: Socket, room_id: int) -> list[dict[str, Any]]:
    return [f for f in sock.frames if f.get("room") == room_id]


async def test_each_kind_of_room_can_be_created(make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")

    plans = f"Plans {uuid.uuid4().hex[:6]}"
    channel = await new_room(alice, bob, kind="channel", name=plans)
    private = await new_room(alice, bob, kind="private", name="secret plans")
    direct = await new_room(alice, bob, kind="direct")

    assert (channel["kind"], channel["name"]) == ("channel", plans)
    assert (private["kind"], private["name"]) == ("private", "secret plans")
    assert direct["kind"] == "direct"
    for room in (channel, private, direct):
        assert sorted(room["members"]) == sorted([alice.id, bob.id])
        assert (room["unread"], room["mentions"]) == (0, 0)
        assert room["last_message_id"] is None and room["last_read_message_id"] is None
    for user in (alice, bob):
        listed = await my_rooms(user)
        assert {channel["id"], private["id"], direct["id"]} <= set(listed)
        got = (await user.get(f"/api/rooms/{private['id']}"))["room"]
        assert (got["id"], got["kind"], got["name"]) == (private["id"], "private", "secret plans")


async def test_unknown_room_kind_is_refused(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    status, body = await alice.call("POST", "/api/rooms", {"kind": "public", "name": "x"})
    assert status == 400 and body["error"]["code"] == "bad_request"


async def test_direct_room_is_one_per_set_of_people(make_user: UserFactory) -> None:
    alice, bob, carol = [await make_user(p) for p in ("alice", "bob", "carol")]

    pair = await new_room(alice, bob, kind="direct")
    again = await new_room(bob, alice, kind="direct")
    trio = await new_room(alice, bob, carol, kind="direct")
    trio_again = await new_room(carol, bob, alice, kind="direct")
    trio_third = await new_room(bob, carol, alice, kind="direct")

    assert again["id"] == pair["id"]
    assert trio["id"] != pair["id"]
    assert trio_again["id"] == trio["id"] == trio_third["id"]
    assert sorted(trio["members"]) == sorted([alice.id, bob.id, carol.id])
    directs = [r for r in (await my_rooms(bob)).values() if r["kind"] == "direct"]
    assert sorted(r["id"] for r in directs) == sorted([pair["id"], trio["id"]])


async def test_direct_room_with_nobody_else_is_refused(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    status, body = await alice.call("POST", "/api/rooms", {"kind": "direct", "members": []})
    assert status == 400 and body["error"]["code"] == "bad_request"


async def test_channels_are_listed_and_anyone_may_join(make_user: UserFactory) -> None:
    alice, carol = await make_user("alice"), await make_user("carol")
    channel = await new_room(alice, kind="channel")
    private = await new_room(alice, kind="private")

    listed = {c["id"]: c for c in (await carol.get("/api/channels"))["channels"]}
    assert channel["id"] in listed and private["id"] not in listed
    assert listed[channel["id"]]["name"] == channel["name"]
    assert listed[channel["id"]]["avatar_url"] is None  # the browse list shows pictures too

    a = await alice.connect()
    joined = await carol.post(f"/api/rooms/{channel['id']}/join")
    assert carol.id in joined["room"]["members"]
    event = await a.event("member.join", room=channel["id"])
    assert event["data"]["user"] == carol.id
    assert channel["id"] in await my_rooms(carol)

    # Joining twice changes nothing and announces nothing.
    again = await carol.post(f"/api/rooms/{channel['id']}/join")
    assert sorted(again["room"]["members"]) == sorted([alice.id, carol.id])
    await barrier(a)
    assert not [f for f in room_frames(a, channel["id"]) if f.get("kind") == "member.join"]


async def test_outsider_cannot_join_a_private_room(make_user: UserFactory) -> None:
    alice, bob, eve = [await make_user(p) for p in ("alice", "bob", "eve")]
    private = await new_room(alice, bob)

    status, body = await eve.call("POST", f"/api/rooms/{private['id']}/join")

    assert status == 404 and body["error"]["code"] == "not_found"
    room = (await alice.get(f"/api/rooms/{private['id']}"))["room"]
    assert eve.id not in room["members"]
    assert private["id"] not in await my_rooms(eve)


async def test_invited_member_gets_the_room_and_everyone_hears_of_it(
    make_user: UserFactory,
) -> None:
    alice, bob, carol, dave = [await make_user(p) for p in ("alice", "bob", "carol", "dave")]
    private = await new_room(alice, bob)
    a, b, c, d = [await u.connect() for u in (alice, bob, carol, dave)]

    updated = await alice.post(f"/api/rooms/{private['id']}/members", {"user_ids": [carol.id]})

    assert sorted(updated["room"]["members"]) == sorted([alice.id, bob.id, carol.id])
    for sock in (a, b, c):
        event = await sock.event("member.join", room=private["id"])
        assert event["data"]["user"] == carol.id
    assert private["id"] in await my_rooms(carol)
    await barrier(d)
    assert room_frames(d, private["id"]) == []


async def test_owner_removes_a_member_who_learns_of_it(make_user: UserFactory) -> None:
    alice, bob, carol, dave = [await make_user(p) for p in ("alice", "bob", "carol", "dave")]
    private = await new_room(alice, bob, carol)
    b, c, d = [await u.connect() for u in (bob, carol, dave)]

    status, _ = await alice.call("DELETE", f"/api/rooms/{private['id']}/members/{bob.id}")

    assert status == 204
    for sock in (b, c):
        event = await sock.event("member.leave", room=private["id"])
        assert event["data"]["user"] == bob.id
    await barrier(d)
    assert room_frames(d, private["id"]) == []
    assert private["id"] not in await my_rooms(bob)
    status, body = await bob.call("GET", f"/api/rooms/{private['id']}")
    assert status == 404 and body["error"]["code"] == "not_found"
    room = (await carol.get(f"/api/rooms/{private['id']}"))["room"]
    assert sorted(room["members"]) == sorted([alice.id, carol.id])


async def test_member_cannot_remove_another_member(make_user: UserFactory) -> None:
    alice, bob, carol = [await make_user(p) for p in ("alice", "bob", "carol")]
    for kind in ("private", "channel"):
        room = await new_room(alice, bob, carol, kind=kind)

        status, body = await bob.call("DELETE", f"/api/rooms/{room['id']}/members/{carol.id}")
        assert status == 403 and body["error"]["code"] == "forbidden"
        status, body = await bob.call("DELETE", f"/api/rooms/{room['id']}/members/{alice.id}")
        assert status == 403 and body["error"]["code"] == "forbidden"

        members = (await alice.get(f"/api/rooms/{room['id']}"))["room"]["members"]
        assert sorted(members) == sorted([alice.id, bob.id, carol.id])


async def test_admin_in_the_room_may_remove_a_member(make_user: UserFactory, admin: Client) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await new_room(alice, bob, admin, kind="channel")

    status, _ = await admin.call("DELETE", f"/api/rooms/{room['id']}/members/{bob.id}")

    assert status == 204
    members = (await alice.get(f"/api/rooms/{room['id']}"))["room"]["members"]
    assert bob.id not in members


async def test_member_leaves_a_room(make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await new_room(alice, bob)
    a, b = await alice.connect(), await bob.connect()

    await bob.post(f"/api/rooms/{room['id']}/leave", expect=204)

    for sock in (a, b):
        event = await sock.event("member.leave", room=room["id"])
        assert event["data"]["user"] == bob.id
    assert room["id"] not in await my_rooms(bob)
    members = (await alice.get(f"/api/rooms/{room['id']}"))["room"]["members"]
    assert members == [alice.id]
    # Gone from the room: sending there is refused like any room one cannot see.
    error = await b.error(
        {"type": "message.send", "room": room["id"], "body": "hi", "client_id": "x1"}
    )
    assert error["code"] == "not_found"


async def test_only_owners_and_admins_may_rename(make_user: UserFactory, admin: Client) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await new_room(alice, bob, admin, kind="private", name="before")
    b = await bob.connect()

    status, body = await bob.call("PATCH", f"/api/rooms/{room['id']}", {"name": "bob's idea"})
    assert status == 403 and body["error"]["code"] == "forbidden"
    assert (await bob.get(f"/api/rooms/{room['id']}"))["room"]["name"] == "before"

    status, body = await alice.call("PATCH", f"/api/rooms/{room['id']}", {"name": "by owner"})
    assert status == 200 and body["room"]["name"] == "by owner"
    event = await b.event("room.update", room=room["id"])
    assert event["data"]["room"]["name"] == "by owner"

    status, body = await admin.call("PATCH", f"/api/rooms/{room['id']}", {"name": "by admin"})
    assert status == 200 and body["room"]["name"] == "by admin"
    event = await b.event("room.update", room=room["id"])
    assert event["data"]["room"]["name"] == "by admin"
    assert (await bob.get(f"/api/rooms/{room['id']}"))["room"]["name"] == "by admin"


async def test_topic_change_reaches_members_only(make_user: UserFactory) -> None:
    alice, bob, dave = [await make_user(p) for p in ("alice", "bob", "dave")]
    room = await new_room(alice, bob, kind="channel")
    b, d = await bob.connect(), await dave.connect()

    status, body = await alice.call("PATCH", f"/api/rooms/{room['id']}", {"topic": "Q3 launch"})

    assert status == 200 and body["room"]["topic"] == "Q3 launch"
    event = await b.event("room.update", room=room["id"])
    assert event["data"]["room"]["topic"] == "Q3 launch"
    assert event["data"]["room"]["name"] == room["name"]
    assert (await my_rooms(bob))[room["id"]]["topic"] == "Q3 launch"
    await barrier(d)
    assert room_frames(d, room["id"]) == []


async def test_room_new_reaches_members_only(make_user: UserFactory) -> None:
    alice, bob, dave = [await make_user(p) for p in ("alice", "bob", "dave")]
    a, b, d = [await u.connect() for u in (alice, bob, dave)]

    room = await new_room(alice, bob, kind="private", name="launch")

    for sock in (a, b):
        event = await sock.event("room.new", room=room["id"])
        assert event["data"]["room"]["name"] == "launch"
        assert sorted(event["data"]["room"]["members"]) == sorted([alice.id, bob.id])
    await barrier(d)
    assert room_frames(d, room["id"]) == []


async def test_unread_and_mention_counts_follow_messages_and_read_marker(
    make_user: UserFactory,
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await new_room(alice, bob)
    rid = room["id"]
    a, b = await alice.connect(), await bob.connect()

    m1 = await a.send_message(rid, "first")
    m2 = await a.send_message(rid, f"hey @{bob.user['username']} look")
    m3 = await a.send_message(rid, "third")

    mine = (await my_rooms(bob))[rid]
    assert (mine["unread"], mine["mentions"]) == (3, 1)
    assert mine["last_message_id"] == m3["id"] and mine["last_read_message_id"] is None
    assert (await my_rooms(alice))[rid]["unread"] == 0  # one's own messages are read

    await b.ok({"type": "read.mark", "room": rid, "message": m2["id"]})
    mine = (await my_rooms(bob))[rid]
    assert (mine["unread"], mine["mentions"]) == (1, 0)
    assert mine["last_read_message_id"] == m2["id"]

    m4 = await a.send_message(rid, "@room meeting now")
    mine = (await my_rooms(bob))[rid]
    assert (mine["unread"], mine["mentions"]) == (2, 1)

    await b.ok({"type": "read.mark", "room": rid, "message": m4["id"]})
    mine = (await my_rooms(bob))[rid]
    assert (mine["unread"], mine["mentions"]) == (0, 0)
    assert mine["last_read_message_id"] == mine["last_message_id"] == m4["id"]

    await b.send_message(rid, "thanks")
    assert (await my_rooms(bob))[rid]["unread"] == 0
    assert (await my_rooms(alice))[rid]["unread"] == 1
    assert m1["id"] < m2["id"] < m3["id"] < m4["id"]


async def test_thread_replies_do_not_count_as_unread_timeline(make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await new_room(alice, bob)
    a = await alice.connect()

    root = await a.send_message(room["id"], "root")
    await a.send_message(room["id"], "reply", thread=root["id"])

    mine = (await my_rooms(bob))[room["id"]]
    assert mine["unread"] == 1 and mine["last_message_id"] == root["id"]
