"""Nobody outside a room can see it, by any route; a removed member stops seeing it.

Every refusal is the same 404 / `not_found` that a room or message which does not exist
gets, so ids leak nothing (protocol.md, design.md §5).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from tests.client import Client, Socket
from tests.conftest import UserFactory, new_room

MISSING = 1 << 40  # an id no test creates


def word() -> str:
    return "v" + "".join(chr(ord("a") + int(c, 16) % 26) for c in uuid.uuid4().hex[:10])


@dataclass
class Secret:
    """A private room with some history: a message, a thread, a reaction, read markers."""

    room: dict[str, Any]
    message: dict[str, Any]
    reply: dict[str, Any]
    word: str


async def secret_room(alice: Client, bob: Client, a: Socket) -> Secret:
    room = await new_room(alice, bob, kind="private", name="salaries")
    w = word()
    message = await a.send_message(room["id"], f"the {w} numbers")
    reply = await a.send_message(room["id"], f"more {w}", thread=message["id"])
    await a.ok({"type": "reaction.set", "message": message["id"], "emoji": "👀", "on": True})
    await a.ok({"type": "read.mark", "room": room["id"], "message": message["id"]})
    return Secret(room, message, reply, w)


def leaks(sock: Socket, room_id: int, message_ids: set[int]) -> list[dict[str, Any]]:
    """Frames about the room or its messages."""

    def about(f: dict[str, Any]) -> bool:
        data = f.get("data") or {}
        msg = data.get("message")
        mid = msg.get("id") if isinstance(msg, dict) else msg
        return f.get("room") == room_id or mid in message_ids

    return [f for f in sock.frames if about(f)]


async def test_outsider_gets_not_found_from_every_rest_route(make_user: UserFactory) -> None:
    alice, bob, eve = [await make_user(p) for p in ("alice", "bob", "eve")]
    a = await alice.connect()
    s = await secret_room(alice, bob, a)
    rid, mid = s.room["id"], s.message["id"]

    routes: list[tuple[str, str, Any, str | None]] = [
        ("GET", f"/api/rooms/{rid}", None, f"/api/rooms/{MISSING}"),
        ("GET", f"/api/rooms/{rid}/messages", None, f"/api/rooms/{MISSING}/messages"),
        ("GET", f"/api/rooms/{rid}/messages?before={mid + 1}", None, None),
        ("GET", f"/api/rooms/{rid}/reads", None, f"/api/rooms/{MISSING}/reads"),
        ("GET", f"/api/messages/{mid}/thread", None, f"/api/messages/{MISSING}/thread"),
        ("GET", f"/api/messages/{s.reply['id']}/thread", None, None),
        ("GET", f"/api/search?q={s.word}&room={rid}", None, None),
        ("PATCH", f"/api/rooms/{rid}", {"name": "mine now"}, f"/api/rooms/{MISSING}"),
        ("PATCH", f"/api/rooms/{rid}", {"topic": "hello"}, None),
        # The rights come before the body: a change the room's members would be refused
        # (400) still gets an outsider the 404 of a room that does not exist.
        ("PATCH", f"/api/rooms/{rid}", {"p2p": True, "name": "x"}, f"/api/rooms/{MISSING}"),
        ("PATCH", f"/api/rooms/{rid}", {"name": ""}, f"/api/rooms/{MISSING}"),
        ("POST", f"/api/rooms/{rid}/join", None, f"/api/rooms/{MISSING}/join"),
        ("POST", f"/api/rooms/{rid}/leave", None, f"/api/rooms/{MISSING}/leave"),
        ("POST", f"/api/rooms/{rid}/members", {"user_ids": [eve.id]}, None),
        ("DELETE", f"/api/rooms/{rid}/members/{bob.id}", None, None),
        ("DELETE", f"/api/rooms/{rid}/members/{eve.id}", None, None),
    ]
    for method, path, body, missing_path in routes:
        status, got = await eve.call(method, path, body)
        assert status == 404, (method, path, status, got)
        assert got["error"]["code"] == "not_found", (method, path, got)
        if missing_path is not None:
            _, missing = await eve.call(method, missing_path, body)
            assert got == missing, (method, path, "differs from a room that does not exist")

    found = (await eve.get("/api/search", params={"q": s.word}))["messages"]
    assert found == []
    assert rid not in {r["id"] for r in (await eve.get("/api/rooms"))["rooms"]}
    assert rid not in {c["id"] for c in (await eve.get("/api/channels"))["channels"]}
    # Nothing changed for the people inside.
    room = (await alice.get(f"/api/rooms/{rid}"))["room"]
    assert (room["name"], room["topic"]) == ("salaries", "")
    assert sorted(room["members"]) == sorted([alice.id, bob.id])


async def test_outsider_gets_not_found_over_the_websocket(make_user: UserFactory) -> None:
    alice, bob, eve = [await make_user(p) for p in ("alice", "bob", "eve")]
    a, e = await alice.connect(), await eve.connect()
    s = await secret_room(alice, bob, a)
    rid, mid = s.room["id"], s.message["id"]
    own = await new_room(eve)

    frames: list[dict[str, Any]] = [
        {"type": "message.send", "room": rid, "body": "hi", "client_id": uuid.uuid4().hex},
        {
            "type": "message.send",
            "room": rid,
            "body": "hi",
            "thread": mid,
            "client_id": uuid.uuid4().hex,
        },
        {
            "type": "message.send",
            "room": own["id"],
            "body": "hijack",
            "thread": mid,
            "client_id": uuid.uuid4().hex,
        },
        {"type": "message.edit", "message": mid, "body": "defaced"},
        {"type": "message.edit", "message": s.reply["id"], "body": "defaced"},
        {"type": "message.delete", "message": mid},
        {"type": "message.delete", "message": s.reply["id"]},
        {"type": "reaction.set", "message": mid, "emoji": "👎", "on": True},
        {"type": "reaction.set", "message": mid, "emoji": "👀", "on": False},
        {"type": "read.mark", "room": rid, "message": mid},
        {"type": "read.mark", "room": own["id"], "message": mid},
        {"type": "typing", "room": rid},
    ]
    for frame in frames:
        error = await e.error(frame)
        assert error["code"] == "not_found", (frame, error)
        twin = {
            k: (MISSING if k in ("room", "message", "thread") and v != own["id"] else v)
            for k, v in frame.items()
        }
        if "client_id" in twin:
            twin["client_id"] = uuid.uuid4().hex
        assert await e.error(twin) == error, (frame, "differs from one that does not exist")

    timeline = (await alice.get(f"/api/rooms/{rid}/messages"))["messages"]
    assert [(m["id"], m["body"], m["deleted"]) for m in timeline] == [
        (mid, s.message["body"], False)
    ]
    assert timeline[0]["reactions"] == {"👀": [alice.id]}
    thread = await alice.get(f"/api/messages/{mid}/thread")
    assert [(m["id"], m["body"]) for m in thread["replies"]] == [(s.reply["id"], s.reply["body"])]
    assert (await alice.get(f"/api/rooms/{rid}/reads"))["reads"] == {str(alice.id): mid}
    assert (await eve.get(f"/api/rooms/{own['id']}/messages"))["messages"] == []


async def test_outsider_receives_no_live_events_from_a_private_room(
    make_user: UserFactory,
) -> None:
    alice, bob, eve = [await make_user(p) for p in ("alice", "bob", "eve")]
    shared = await new_room(alice, eve, kind="channel")
    a, b, e = [await u.connect() for u in (alice, bob, eve)]

    s = await secret_room(alice, bob, a)
    rid = s.room["id"]
    await b.ok({"type": "typing", "room": rid})
    sent = await b.send_message(rid, "bob here")
    await b.ok({"type": "message.edit", "message": sent["id"], "body": "bob was here"})
    await b.ok({"type": "read.mark", "room": rid, "message": sent["id"]})
    await a.ok({"type": "message.delete", "message": s.reply["id"]})
    await alice.call("PATCH", f"/api/rooms/{rid}", {"name": "renamed"})
    await a.send_message(shared["id"], "marker")

    # The marker comes after everything above on every socket; nothing private before it.
    marker = await e.event("message.new", room=shared["id"])
    assert marker["data"]["message"]["body"] == "marker"
    ids = {s.message["id"], s.reply["id"], sent["id"]}
    assert leaks(e, rid, ids) == []
    # The members did get them (so the test would notice if nothing was sent at all).
    assert await a.wait_for(lambda f: f.get("type") == "typing" and f.get("room") == rid)
    assert (await a.event("message.edit", room=rid))["data"]["message"]["id"] == sent["id"]


async def test_replay_never_includes_a_private_room(make_user: UserFactory) -> None:
    alice, bob, eve = [await make_user(p) for p in ("alice", "bob", "eve")]
    shared = await new_room(alice, eve, kind="channel")
    a = await alice.connect()
    first = await eve.connect()
    since = first.hello_reply["data"]["head"]
    await first.close()

    s = await secret_room(alice, bob, a)
    sent = await a.send_message(s.room["id"], "more secrets")
    await a.send_message(shared["id"], "marker")

    e = await eve.connect(since=since)
    replayed = [f for f in e.frames if f.get("type") == "event"]
    assert [f["data"]["message"]["body"] for f in replayed if f["kind"] == "message.new"] == [
        "marker"
    ]
    assert leaks(e, s.room["id"], {s.message["id"], s.reply["id"], sent["id"]}) == []
    # bob, a member, does get the room's history replayed.
    b = await bob.connect(since=since)
    kinds = [f["kind"] for f in b.frames if f.get("room") == s.room["id"]]
    assert kinds == ["room.new", "message.new", "message.new", "reaction", "read", "message.new"]


async def test_removed_member_stops_seeing_the_room(make_user: UserFactory) -> None:
    alice, bob, carol = [await make_user(p) for p in ("alice", "bob", "carol")]
    shared = await new_room(alice, bob, kind="channel")
    a, b = await alice.connect(), await bob.connect()
    s = await secret_room(alice, bob, a)
    rid = s.room["id"]
    since = b.hello_reply["data"]["head"]

    status, _ = await alice.call("DELETE", f"/api/rooms/{rid}/members/{bob.id}")
    assert status == 204
    left = await b.event("member.leave", room=rid)
    assert left["data"]["user"] == bob.id

    w = word()
    after = await a.send_message(rid, f"now without bob {w}")
    await a.ok({"type": "typing", "room": rid})
    await a.ok({"type": "message.edit", "message": s.message["id"], "body": "edited"})
    await alice.post(f"/api/rooms/{rid}/members", {"user_ids": [carol.id]})
    await a.send_message(shared["id"], "marker")

    await b.event("message.new", room=shared["id"])
    later = [
        f for f in b.frames if f.get("room") == rid and f.get("seq", left["seq"] + 1) > left["seq"]
    ]
    assert later == []
    for path in (
        f"/api/rooms/{rid}",
        f"/api/rooms/{rid}/messages",
        f"/api/rooms/{rid}/reads",
        f"/api/messages/{s.message['id']}/thread",
    ):
        status, body = await bob.call("GET", path)
        assert status == 404 and body["error"]["code"] == "not_found", path
    assert (await bob.get("/api/search", params={"q": s.word}))["messages"] == []
    assert (await bob.get("/api/search", params={"q": w}))["messages"] == []
    error = await b.error({"type": "read.mark", "room": rid, "message": after["id"]})
    assert error["code"] == "not_found"

    # Resuming from before the removal: bob learns he was removed, and nothing after it.
    again = await bob.connect(since=since)
    seen = [f for f in again.frames if f.get("room") == rid]
    assert [f["kind"] for f in seen] == ["member.leave"]
    assert seen[0]["data"]["user"] == bob.id


async def test_removed_member_cannot_read_the_room_through_a_resent_message(
    make_user: UserFactory,
) -> None:
    """A retried `message.send` returns the stored original, but only to someone who may
    still see the room: it must not show a removed member what happened there since."""
    alice, bob = await make_user("alice"), await make_user("bob")
    a, b = await alice.connect(), await bob.connect()
    room = await new_room(alice, bob)
    client_id = uuid.uuid4().hex
    original = await b.send_message(room["id"], "my proposal", client_id=client_id)
    status, _ = await alice.call("DELETE", f"/api/rooms/{room['id']}/members/{bob.id}")
    assert status == 204
    await a.ok({"type": "reaction.set", "message": original["id"], "emoji": "👎", "on": True})

    reply = await b.request(
        {"type": "message.send", "room": room["id"], "body": "my proposal", "client_id": client_id}
    )

    assert reply["ok"] is False and reply["error"]["code"] == "not_found", reply
    stored = (await alice.get(f"/api/rooms/{room['id']}/messages"))["messages"]
    assert [m["id"] for m in stored] == [original["id"]]  # and nothing new was stored
