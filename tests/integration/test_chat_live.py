"""Two and three people chatting live over the real server."""

from __future__ import annotations

from tests.conftest import UserFactory, new_room


async def test_two_users_chat_live(make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await new_room(alice, bob)
    a, b = await alice.connect(), await bob.connect()

    sent = await a.send_message(room["id"], "hello **bob**")
    got = await b.event("message.new", room=room["id"])

    assert got["data"]["message"] == sent
    assert sent["author"] == alice.id and sent["body"] == "hello **bob**"
    echo = await a.event("message.new", room=room["id"])
    assert echo["seq"] == got["seq"]


async def test_three_users_see_the_same_order(make_user: UserFactory) -> None:
    users = [await make_user(p) for p in ("ann", "ben", "cat")]
    room = await new_room(users[0], *users[1:])
    socks = [await u.connect() for u in users]
    for i in range(5):
        for n, sock in enumerate(socks):
            await sock.send_message(room["id"], f"{n}:{i}")
    seen = []
    for sock in socks:
        bodies = []
        for _ in range(15):
            ev = await sock.event("message.new", room=room["id"])
            bodies.append((ev["seq"], ev["data"]["message"]["body"]))
        seen.append(bodies)
        assert [s for s, _ in bodies] == sorted(s for s, _ in bodies)
    assert seen[0] == seen[1] == seen[2]
