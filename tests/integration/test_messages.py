"""Messages: bodies, edits, deletes, threads, mentions, reactions, read markers, history, search."""

from __future__ import annotations

import uuid
from typing import Any

from tests.client import Client, Socket
from tests.conftest import UserFactory, new_room


async def barrier(sock: Socket) -> None:
    """A ping round trip: every event published before it is now in `sock.frames`."""
    await sock.ok({"type": "ping"})


def kinds_seen(sock: Socket, kind: str, room_id: int) -> list[dict[str, Any]]:
    return [f for f in sock.frames if f.get("kind") == kind and f.get("room") == room_id]


async def history(client: Client, room_id: int, **query: Any) -> dict[str, Any]:
    page: dict[str, Any] = await client.get(f"/api/rooms/{room_id}/messages", params=query)
    return page


async def timeline(client: Client, room_id: int) -> dict[int, dict[str, Any]]:
    return {m["id"]: m for m in (await history(client, room_id, limit=200))["messages"]}


async def room_state(client: Client, room_id: int) -> dict[str, Any]:
    rooms = (await client.get("/api/rooms"))["rooms"]
    return next(r for r in rooms if r["id"] == room_id)


async def search(client: Client, q: str, **query: Any) -> list[int]:
    params = {"q": q, **query}
    status, body = await client.call("GET", "/api/search", params=params)
    assert status == 200, body
    return sorted(m["id"] for m in body["messages"])


def word() -> str:
    """A word no other test uses (letters only, so the tokenizer keeps it whole)."""
    return "w" + "".join(chr(ord("a") + int(c, 16) % 26) for c in uuid.uuid4().hex[:10])


def at(client: Client) -> str:
    return "@" + str(client.user["username"])


# -- bodies and edits --------------------------------------------------------------------------


async def test_markdown_body_is_kept_verbatim(make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await new_room(alice, bob)
    a, b = await alice.connect(), await bob.connect()
    body = (
        "    indented code\n"
        "# Title\n\n"
        "**bold** _it_ `x < y && z` <script>alert(1)</script>\n"
        "- [link](http://example.com)\n"
        "```python\nprint('hi')  \n```\n"
        "ünïcödé 🎉 \\*not italic\\*"
    )

    sent = await a.send_message(room["id"], body)

    assert sent["body"] == body
    assert (await b.event("message.new", room=room["id"]))["data"]["message"]["body"] == body
    assert (await timeline(bob, room["id"]))[sent["id"]]["body"] == body


async def test_author_edits_own_message(make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await new_room(alice, bob)
    a, b = await alice.connect(), await bob.connect()
    sent = await a.send_message(room["id"], "teh plan")
    assert sent["edited_at"] is None

    edited = (await a.ok({"type": "message.edit", "message": sent["id"], "body": "the plan"}))[
        "message"
    ]

    assert (edited["id"], edited["body"]) == (sent["id"], "the plan")
    assert edited["edited_at"] is not None and edited["edited_at"] >= sent["created_at"]
    event = await b.event("message.edit", room=room["id"])
    assert event["data"]["message"] == edited
    stored = (await timeline(bob, room["id"]))[sent["id"]]
    assert stored["body"] == "the plan" and stored["edited_at"] == edited["edited_at"]


async def test_only_the_author_may_edit(make_user: UserFactory, admin: Client) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await new_room(alice, bob, admin)  # alice owns the room
    a, b = await alice.connect(), await bob.connect()
    x = await admin.connect()
    sent = await b.send_message(room["id"], "bob's words")

    for sock in (a, x):  # the room's owner, an admin
        error = await sock.error({"type": "message.edit", "message": sent["id"], "body": "mine"})
        assert error["code"] == "forbidden"

    stored = (await timeline(alice, room["id"]))[sent["id"]]
    assert stored["body"] == "bob's words" and stored["edited_at"] is None
    await barrier(b)
    assert kinds_seen(b, "message.edit", room["id"]) == []


# -- deletes -------------------------------------------------------------------------------------


async def test_author_deletes_own_message_leaving_a_tombstone(make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await new_room(alice, bob)
    a, b = await alice.connect(), await bob.connect()
    sent = await a.send_message(room["id"], f"oops {at(bob)}")
    await b.ok({"type": "reaction.set", "message": sent["id"], "emoji": "👍", "on": True})

    gone = (await a.ok({"type": "message.delete", "message": sent["id"]}))["message"]

    assert gone["id"] == sent["id"]
    assert (gone["body"], gone["deleted"], gone["reactions"]) == ("", True, {})
    event = await b.event("message.delete", room=room["id"])
    assert event["data"]["message"]["id"] == sent["id"]
    assert event["data"]["message"]["deleted"] is True and event["data"]["message"]["body"] == ""
    stored = (await timeline(bob, room["id"]))[sent["id"]]
    assert (stored["body"], stored["deleted"], stored["reactions"]) == ("", True, {})
    assert stored["mentions"] == []
    # Nothing left to react to.
    error = await b.error(
        {"type": "reaction.set", "message": sent["id"], "emoji": "👍", "on": True}
    )
    assert error["code"] == "bad_request"


async def test_room_owner_and_admin_may_delete_others_messages(
    make_user: UserFactory, admin: Client
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await new_room(alice, bob, admin)  # alice owns the room
    a, b, x = await alice.connect(), await bob.connect(), await admin.connect()
    first = await b.send_message(room["id"], "spam one")
    second = await b.send_message(room["id"], "spam two")

    by_owner = (await a.ok({"type": "message.delete", "message": first["id"]}))["message"]
    by_admin = (await x.ok({"type": "message.delete", "message": second["id"]}))["message"]

    assert by_owner["deleted"] and by_admin["deleted"]
    stored = await timeline(bob, room["id"])
    assert stored[first["id"]]["deleted"] and stored[second["id"]]["deleted"]
    for m in (first, second):
        event = await b.event("message.delete", room=room["id"])
        assert event["data"]["message"]["id"] == m["id"]


async def test_member_cannot_delete_anothers_message(make_user: UserFactory) -> None:
    alice, bob, carol = [await make_user(p) for p in ("alice", "bob", "carol")]
    room = await new_room(alice, bob, carol)
    b, c = await bob.connect(), await carol.connect()
    sent = await b.send_message(room["id"], "mine")

    error = await c.error({"type": "message.delete", "message": sent["id"]})

    assert error["code"] == "forbidden"
    stored = (await timeline(alice, room["id"]))[sent["id"]]
    assert stored["deleted"] is False and stored["body"] == "mine"


# -- threads -------------------------------------------------------------------------------------


async def test_thread_replies_stay_out_of_the_timeline(make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await new_room(alice, bob)
    a, b = await alice.connect(), await bob.connect()
    root = await a.send_message(room["id"], "root")
    r1 = await b.send_message(room["id"], "reply one", thread=root["id"])
    r2 = await a.send_message(room["id"], "reply two", thread=root["id"])
    after = await a.send_message(room["id"], "back in the room")

    assert r1["thread"] == r2["thread"] == root["id"]
    stored = await timeline(bob, room["id"])
    assert list(stored) == [root["id"], after["id"]]
    assert stored[root["id"]]["reply_count"] == 2
    assert stored[after["id"]]["reply_count"] == 0

    thread = await bob.get(f"/api/messages/{root['id']}/thread")
    assert thread["root"]["id"] == root["id"]
    assert [m["id"] for m in thread["replies"]] == [r1["id"], r2["id"]]
    assert [m["body"] for m in thread["replies"]] == ["reply one", "reply two"]
    # Asking by a reply's id finds the same thread.
    again = await bob.get(f"/api/messages/{r2['id']}/thread")
    assert again["root"]["id"] == root["id"]
    assert [m["id"] for m in again["replies"]] == [r1["id"], r2["id"]]
    # Replies reach the room's members live, marked with their thread.
    threaded = []
    for _ in range(4):
        ev = await b.event("message.new", room=room["id"])
        threaded.append((ev["data"]["message"]["id"], ev["data"]["message"]["thread"]))
    assert threaded == [
        (root["id"], None),
        (r1["id"], root["id"]),
        (r2["id"], root["id"]),
        (after["id"], None),
    ]


async def test_deleted_reply_no_longer_counts(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    room = await new_room(alice)
    a = await alice.connect()
    root = await a.send_message(room["id"], "root")
    reply = await a.send_message(room["id"], "reply", thread=root["id"])
    await a.send_message(room["id"], "reply 2", thread=root["id"])

    await a.ok({"type": "message.delete", "message": reply["id"]})

    assert (await timeline(alice, room["id"]))[root["id"]]["reply_count"] == 1


async def test_reply_to_a_reply_is_refused(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    room = await new_room(alice)
    a = await alice.connect()
    root = await a.send_message(room["id"], "root")
    reply = await a.send_message(room["id"], "reply", thread=root["id"])

    error = await a.error(
        {
            "type": "message.send",
            "room": room["id"],
            "body": "nested",
            "thread": reply["id"],
            "client_id": uuid.uuid4().hex,
        }
    )

    assert error["code"] == "bad_request"
    thread = await alice.get(f"/api/messages/{root['id']}/thread")
    assert [m["id"] for m in thread["replies"]] == [reply["id"]]


async def test_thread_root_from_another_room_is_refused(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    here, there = await new_room(alice), await new_room(alice)
    a = await alice.connect()
    root = await a.send_message(there["id"], "root over there")

    error = await a.error(
        {
            "type": "message.send",
            "room": here["id"],
            "body": "cross-room reply",
            "thread": root["id"],
            "client_id": uuid.uuid4().hex,
        }
    )

    assert error["code"] in ("not_found", "bad_request")
    assert (await history(alice, here["id"]))["messages"] == []
    assert (await alice.get(f"/api/messages/{root['id']}/thread"))["replies"] == []


# -- mentions ------------------------------------------------------------------------------------


async def test_mention_of_a_member_is_listed_and_counted(make_user: UserFactory) -> None:
    alice, bob, carol = [await make_user(p) for p in ("alice", "bob", "carol")]
    room = await new_room(alice, bob, carol)
    a = await alice.connect()

    sent = await a.send_message(room["id"], f"{at(bob)}, can you check?")

    assert sent["mentions"] == [bob.id]
    assert (await room_state(bob, room["id"]))["mentions"] == 1
    assert (await room_state(carol, room["id"]))["mentions"] == 0
    assert (await timeline(carol, room["id"]))[sent["id"]]["mentions"] == [bob.id]


async def test_room_mention_counts_for_every_member(make_user: UserFactory) -> None:
    alice, bob, carol = [await make_user(p) for p in ("alice", "bob", "carol")]
    room = await new_room(alice, bob, carol)
    a = await alice.connect()

    await a.send_message(room["id"], "@room standup in 5")

    assert (await room_state(bob, room["id"]))["mentions"] == 1
    assert (await room_state(carol, room["id"]))["mentions"] == 1
    assert (await room_state(alice, room["id"]))["mentions"] == 0  # not by oneself


async def test_mentions_inside_code_do_not_count(make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await new_room(alice, bob)
    a = await alice.connect()

    inline = await a.send_message(room["id"], f"type `{at(bob)}` to mention, or `@room`")
    block = await a.send_message(room["id"], f"```\n{at(bob)}\n@room\n```")

    assert inline["mentions"] == [] and block["mentions"] == []
    assert (await room_state(bob, room["id"]))["mentions"] == 0


async def test_mention_of_a_non_member_is_not_listed(make_user: UserFactory) -> None:
    alice, bob, dave = [await make_user(p) for p in ("alice", "bob", "dave")]
    room = await new_room(alice, bob)
    a = await alice.connect()

    sent = await a.send_message(room["id"], f"ask {at(dave)} and {at(bob)}")

    assert sent["mentions"] == [bob.id]
    assert room["id"] not in {r["id"] for r in (await dave.get("/api/rooms"))["rooms"]}


async def test_one_message_mentioning_you_twice_counts_once(make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await new_room(alice, bob)
    a = await alice.connect()

    await a.send_message(room["id"], f"{at(bob)} and @room: release today")

    assert (await room_state(bob, room["id"]))["mentions"] == 1


async def test_edit_adds_and_removes_mentions(make_user: UserFactory) -> None:
    alice, bob, carol = [await make_user(p) for p in ("alice", "bob", "carol")]
    room = await new_room(alice, bob, carol)
    a = await alice.connect()
    sent = await a.send_message(room["id"], f"ping {at(bob)}")

    edited = (
        await a.ok({"type": "message.edit", "message": sent["id"], "body": f"ping {at(carol)}"})
    )["message"]

    assert edited["mentions"] == [carol.id]
    assert (await room_state(bob, room["id"]))["mentions"] == 0
    assert (await room_state(carol, room["id"]))["mentions"] == 1


# -- reactions -----------------------------------------------------------------------------------


async def test_reactions_go_on_and_off_once(make_user: UserFactory) -> None:
    alice, bob, carol = [await make_user(p) for p in ("alice", "bob", "carol")]
    room = await new_room(alice, bob, carol)
    a, b, c = [await u.connect() for u in (alice, bob, carol)]
    sent = await a.send_message(room["id"], "ship it?")
    mid = sent["id"]

    def react(sock: Socket, emoji: str, on: bool) -> Any:
        return sock.ok({"type": "reaction.set", "message": mid, "emoji": emoji, "on": on})

    await react(b, "👍", True)
    event = await a.event("reaction", room=room["id"])
    assert event["data"] == {"message": mid, "user": bob.id, "emoji": "👍", "on": True}

    await react(b, "👍", True)  # again: nothing changes, nothing is announced
    await react(c, "👍", True)
    await react(c, ":tada:", True)
    stored = (await timeline(alice, room["id"]))[mid]["reactions"]
    assert {k: sorted(v) for k, v in stored.items()} == {
        "👍": sorted([bob.id, carol.id]),
        ":tada:": [carol.id],
    }

    await react(b, "👍", False)
    await react(b, "👍", False)  # already off
    await react(c, ":tada:", False)
    stored = (await timeline(alice, room["id"]))[mid]["reactions"]
    assert stored == {"👍": [carol.id]}

    await barrier(a)
    seen = [
        (f["data"]["user"], f["data"]["emoji"], f["data"]["on"])
        for f in a.frames
        if f.get("kind") == "reaction" and f.get("room") == room["id"]
    ]
    assert seen == [
        (carol.id, "👍", True),
        (carol.id, ":tada:", True),
        (bob.id, "👍", False),
        (carol.id, ":tada:", False),
    ]


# -- read markers --------------------------------------------------------------------------------


async def test_read_marker_moves_forward_only(make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await new_room(alice, bob)
    rid = room["id"]
    a, b = await alice.connect(), await bob.connect()
    m1, m2, m3 = [await a.send_message(rid, f"m{i}") for i in (1, 2, 3)]

    moved = await b.ok({"type": "read.mark", "room": rid, "message": m3["id"]})
    assert moved["message"] == m3["id"]
    event = await a.event("read", room=rid)
    assert event["data"] == {"user": bob.id, "message": m3["id"]}

    stayed = await b.ok({"type": "read.mark", "room": rid, "message": m1["id"]})
    assert stayed["message"] == m3["id"]
    await a.ok({"type": "read.mark", "room": rid, "message": m2["id"]})

    reads = (await bob.get(f"/api/rooms/{rid}/reads"))["reads"]
    assert reads == {str(bob.id): m3["id"], str(alice.id): m2["id"]}
    assert (await room_state(bob, rid))["last_read_message_id"] == m3["id"]
    # The backward mark announced nothing: the next `read` alice sees is her own.
    event = await a.event("read", room=rid)
    assert event["data"] == {"user": alice.id, "message": m2["id"]}


async def test_read_mark_of_a_message_from_another_room_is_refused(
    make_user: UserFactory,
) -> None:
    alice = await make_user("alice")
    here, there = await new_room(alice), await new_room(alice)
    a = await alice.connect()
    other = await a.send_message(there["id"], "elsewhere")

    error = await a.error({"type": "read.mark", "room": here["id"], "message": other["id"]})

    assert error["code"] == "not_found"
    assert (await alice.get(f"/api/rooms/{here['id']}/reads"))["reads"] == {}


# -- history -------------------------------------------------------------------------------------


async def test_history_pages_oldest_first(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    room = await new_room(alice)
    rid = room["id"]
    a = await alice.connect()
    ids = [(await a.send_message(rid, f"n{i}"))["id"] for i in range(7)]

    def page_ids(page: dict[str, Any]) -> list[int]:
        return [m["id"] for m in page["messages"]]

    whole = await history(alice, rid)
    assert page_ids(whole) == ids and whole["has_more"] is False
    assert [m["body"] for m in whole["messages"]] == [f"n{i}" for i in range(7)]

    newest = await history(alice, rid, limit=3)
    assert page_ids(newest) == ids[4:] and newest["has_more"] is True
    older = await history(alice, rid, limit=3, before=ids[4])
    assert page_ids(older) == ids[1:4] and older["has_more"] is True
    oldest = await history(alice, rid, limit=3, before=ids[1])
    assert page_ids(oldest) == ids[:1] and oldest["has_more"] is False

    later = await history(alice, rid, limit=2, after=ids[3])
    assert page_ids(later) == ids[4:6] and later["has_more"] is True
    last = await history(alice, rid, limit=2, after=ids[5])
    assert page_ids(last) == ids[6:] and last["has_more"] is False


async def test_history_refuses_a_bad_limit(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    room = await new_room(alice)
    for bad in ("0", "201", "x"):
        status, body = await alice.call("GET", f"/api/rooms/{room['id']}/messages?limit={bad}")
        assert status == 400 and body["error"]["code"] == "bad_request"


# -- search --------------------------------------------------------------------------------------


async def test_search_finds_words_across_my_rooms_only(make_user: UserFactory) -> None:
    alice, bob, carol = [await make_user(p) for p in ("alice", "bob", "carol")]
    with_bob, with_carol = await new_room(alice, bob), await new_room(alice, carol)
    a = await alice.connect()
    w = word()
    m1 = await a.send_message(with_bob["id"], f"the {w} report is late")
    m2 = await a.send_message(with_carol["id"], f"{w.upper()}ING again?")
    await a.send_message(with_bob["id"], "unrelated")

    assert await search(alice, w) == sorted([m1["id"], m2["id"]])
    assert await search(alice, w[:6]) == sorted([m1["id"], m2["id"]])  # prefix
    assert await search(alice, f"{w} report") == [m1["id"]]  # every word must match
    assert await search(alice, w, room=with_carol["id"]) == [m2["id"]]
    assert await search(bob, w) == [m1["id"]]
    assert await search(carol, w) == [m2["id"]]
    status, body = await bob.call("GET", "/api/search", params={"q": w, "room": with_carol["id"]})
    assert status == 404 and body["error"]["code"] == "not_found"


async def test_search_finds_thread_replies(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    room = await new_room(alice)
    a = await alice.connect()
    w = word()
    root = await a.send_message(room["id"], "root")
    reply = await a.send_message(room["id"], f"answer {w}", thread=root["id"])

    assert await search(alice, w) == [reply["id"]]


async def test_search_skips_deleted_and_follows_edits(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    room = await new_room(alice)
    a = await alice.connect()
    old, new, doomed = word(), word(), word()
    edited = await a.send_message(room["id"], f"draft {old}")
    deleted = await a.send_message(room["id"], f"secret {doomed}")

    await a.ok({"type": "message.edit", "message": edited["id"], "body": f"final {new}"})
    await a.ok({"type": "message.delete", "message": deleted["id"]})

    assert await search(alice, new) == [edited["id"]]
    assert await search(alice, old) == []
    assert await search(alice, doomed) == []


async def test_search_needs_a_word(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    for q in ("", "   ", "***"):
        status, body = await alice.call("GET", "/api/search", params={"q": q})
        assert status == 400 and body["error"]["code"] == "bad_request"
