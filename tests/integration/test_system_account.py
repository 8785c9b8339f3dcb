"""A system account is never a person (issue 15): Echo, the test-call bot, is in no
directory, picker source, list or count, no admin action reaches it, and its direct room can
be closed in a person's sidebar on every device until something new happens there."""

from __future__ import annotations

from typing import Any

from tests.client import Client
from tests.conftest import USER_PASSWORD, UserFactory, new_room


async def _echo(person: Client) -> tuple[dict[str, Any], int]:
    """The person's test-call room and Echo's id."""
    room = (await person.post("/api/test-call"))["room"]
    others = [m for m in room["members"] if m != person.id]
    assert len(others) == 1, room
    return room, others[0]


async def test_echo_is_in_no_directory_list_or_count(admin: Client, make_user: UserFactory) -> None:
    ann = await make_user("ann")
    _, echo = await _echo(ann)

    directory = await ann.get("/api/users")
    assert echo not in [u["id"] for u in directory["users"]]
    assert ann.id in [u["id"] for u in directory["users"]]
    assert not any(u["system"] for u in directory["users"])
    # Apart, so that a client can name the test-call room without offering Echo as a person.
    [system] = [u for u in directory["system_users"] if u["id"] == echo]
    assert system["system"] is True and system["display_name"] == "Echo (test call)"

    people = (await admin.get("/api/admin/users"))["users"]
    assert echo not in [u["id"] for u in people]
    counts = (await admin.get("/api/admin/storage"))["counts"]
    assert counts["users"] == len(people)


async def test_echo_cannot_be_picked_for_a_room_or_mentioned(make_user: UserFactory) -> None:
    ann = await make_user("ann")
    dm, echo = await _echo(ann)
    echo_name = next(
        u["username"] for u in (await ann.get("/api/users"))["system_users"] if u["id"] == echo
    )

    status, body = await ann.call("POST", "/api/rooms", {"kind": "direct", "members": [echo]})
    assert status == 400 and body["error"]["code"], body
    room = await new_room(ann)
    status, body = await ann.call("POST", f"/api/rooms/{room['id']}/members", {"user_ids": [echo]})
    assert status == 400 and body["error"]["code"], body

    sock = await ann.connect()
    try:
        message = await sock.send_message(room["id"], f"hello @{echo_name}")
        assert message["mentions"] == []
    finally:
        await sock.close()
    # The test call itself still opens the same room.
    assert (await ann.post("/api/test-call"))["room"]["id"] == dm["id"]


async def test_admin_actions_on_echo_answer_like_a_missing_user(
    admin: Client, make_user: UserFactory
) -> None:
    ann = await make_user("ann")
    _, echo = await _echo(ann)
    for method, path, body in (
        ("PATCH", f"/api/admin/users/{echo}", {"deactivated": True}),
        ("PATCH", f"/api/admin/users/{echo}", {"admin": True}),
        ("POST", f"/api/admin/users/{echo}/reset", None),
    ):
        status, answer = await admin.call(method, path, body)
        assert status == 404, (path, body, answer)
        assert answer["error"]["code"] == "not_found", answer
        assert answer["error"]["message"] == "No such user."
    # Echo still answers the test call.
    assert (await ann.post("/api/test-call"))["room"]


async def test_closing_the_echo_room_follows_the_person_and_new_things_reopen_it(
    make_user: UserFactory,
) -> None:
    ann = await make_user("ann")
    dm, _ = await _echo(ann)
    phone = await Client(ann.base_url).login(ann.user["username"], USER_PASSWORD)
    phone_sock = await phone.connect()
    try:
        hidden = await ann.post(f"/api/rooms/{dm['id']}/hide")
        assert hidden == {"hidden_through": dm["last_message_id"] or 0}
        # The other device hears it live, and finds it so after a reload.
        event = await phone_sock.event("room.hidden")
        assert event["room"] is None
        assert event["data"] == {"room": dm["id"], "hidden_through": hidden["hidden_through"]}
        on_phone = await _room(phone, dm["id"])
        assert on_phone["hidden_through"] == hidden["hidden_through"]

        # Opening the test call again brings it back, everywhere.
        again = (await ann.post("/api/test-call"))["room"]
        assert again["id"] == dm["id"] and again["hidden_through"] is None
        shown = await phone_sock.event("room.hidden")
        assert shown["data"] == {"room": dm["id"], "hidden_through": None}
        assert (await _room(phone, dm["id"]))["hidden_through"] is None

        # Closed again, a new message in it reopens it (no write needed per message).
        await ann.post(f"/api/rooms/{dm['id']}/hide")
        assert (await _room(phone, dm["id"]))["hidden_through"] is not None
        message = await phone_sock.send_message(dm["id"], "still there?")
        room = await _room(ann, dm["id"])
        assert room["last_message_id"] == message["id"] and room["hidden_through"] is None
    finally:
        await phone_sock.close()
        await phone.close()


async def test_only_a_members_direct_room_can_be_closed(make_user: UserFactory) -> None:
    ann = await make_user("ann")
    bob = await make_user("bob")
    room = await new_room(ann, bob)
    status, body = await ann.call("POST", f"/api/rooms/{room['id']}/hide")
    assert status == 409 and body["error"]["code"] == "conflict", body
    dm, _ = await _echo(ann)
    status, body = await bob.call("POST", f"/api/rooms/{dm['id']}/hide")
    assert status == 404 and body["error"]["code"] == "not_found", body
    status, body = await ann.call("POST", "/api/rooms/nope/hide")
    assert status in (400, 404) and body["error"]["code"], body
    # Bringing back a room that is shown is fine.
    assert await ann.call("DELETE", f"/api/rooms/{dm['id']}/hide") == (
        200,
        {"hidden_through": None},
    )


async def _room(client: Client, room_id: int) -> dict[str, Any]:
    rooms = (await client.get("/api/rooms"))["rooms"]
    return next(r for r in rooms if r["id"] == room_id)
