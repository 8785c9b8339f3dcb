"""The service worker's notification actions over HTTP: "Reply" sends a message, "Mark as
read" moves the right marker, with the same rules and events as the socket's commands."""

from __future__ import annotations

from tests.conftest import UserFactory, new_room


async def test_reply_over_http_is_a_message_like_any_other(make_user: UserFactory) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    room = (await new_room(alice, bob))["id"]
    a = await alice.connect()
    root = await a.send_message(room, "shall we ship?")

    sent = await bob.post(
        f"/api/rooms/{room}/messages", {"body": "yes", "client_id": "sw-1"}, expect=201
    )
    assert sent["message"]["body"] == "yes" and sent["message"]["thread"] is None
    event = await a.wait_for(
        lambda f: f.get("kind") == "message.new" and f["data"]["message"]["body"] == "yes"
    )
    assert event["data"]["message"]["id"] == sent["message"]["id"]
    # The same client_id again is the same message, stored once.
    again = await bob.post(
        f"/api/rooms/{room}/messages", {"body": "yes", "client_id": "sw-1"}, expect=201
    )
    assert again["message"]["id"] == sent["message"]["id"]
    reply = await bob.post(
        f"/api/rooms/{room}/messages",
        {"body": "in the thread", "client_id": "sw-2", "thread": root["id"]},
        expect=201,
    )
    assert reply["message"]["thread"] == root["id"]

    for body, status in [
        ({"body": "x"}, 400),  # no client_id
        ({"body": "   ", "client_id": "sw-3"}, 400),  # blank
        ({"body": "x", "client_id": "sw-4", "extra": 1}, 400),
    ]:
        code, answer = await bob.call("POST", f"/api/rooms/{room}/messages", body)
        assert code == status and answer["error"]["code"] == "bad_request", answer
    code, answer = await carol.call(
        "POST", f"/api/rooms/{room}/messages", {"body": "hi", "client_id": "sw-5"}
    )
    assert code == 404 and answer["error"]["code"] == "not_found", answer


async def test_mark_read_over_http_moves_the_room_or_thread_marker(
    make_user: UserFactory,
) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    room = (await new_room(alice, bob))["id"]
    a = await alice.connect()
    b = await bob.connect()  # bob's other device hears what his notification did
    first = await a.send_message(room, "one")
    second = await a.send_message(room, "two")
    reply = await a.send_message(room, "a reply", thread=first["id"])

    done = await bob.post(f"/api/messages/{second['id']}/read")
    assert done == {"room": room, "thread": None, "message": second["id"]}
    read = await b.event("read", room=room)
    assert read["data"] == {"user": bob.id, "message": second["id"]}
    # Markers only move forward: reading the older one answers the marker as it is.
    assert (await bob.post(f"/api/messages/{first['id']}/read"))["message"] == second["id"]
    rooms = (await bob.get("/api/rooms"))["rooms"]
    assert next(r for r in rooms if r["id"] == room)["unread"] == 0

    done = await bob.post(f"/api/messages/{reply['id']}/read")
    assert done == {"room": room, "thread": first["id"], "message": reply["id"]}
    seen = await b.event("thread.read")
    assert seen["data"] == {"room": room, "thread": first["id"], "message": reply["id"]}

    code, answer = await carol.call("POST", f"/api/messages/{second['id']}/read")
    assert code == 404 and answer["error"]["code"] == "not_found", answer
    code, answer = await bob.call("POST", "/api/messages/999999999/read")
    assert code == 404, answer
