"""A direct conversation switched to peer-to-peer: who may switch it, and who hears of it."""

from __future__ import annotations

from tests.conftest import UserFactory, new_room


async def test_either_participant_switches_a_dm_to_p2p_and_both_hear_it(
    make_user: UserFactory,
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    dm = await new_room(alice, bob, kind="direct")
    assert dm["p2p"] is False
    b = await bob.connect()

    status, body = await alice.call("PATCH", f"/api/rooms/{dm['id']}", {"p2p": True})

    assert status == 200 and body["room"]["p2p"] is True
    event = await b.event("room.update", room=dm["id"])
    assert event["data"]["room"]["p2p"] is True
    assert (await bob.get(f"/api/rooms/{dm['id']}"))["room"]["p2p"] is True
    listed = {r["id"]: r for r in (await bob.get("/api/rooms"))["rooms"]}
    assert listed[dm["id"]]["p2p"] is True

    # Bob switches it back; the same event tells Alice's devices.
    a = await alice.connect()
    status, body = await bob.call("PATCH", f"/api/rooms/{dm['id']}", {"p2p": False})
    assert status == 200 and body["room"]["p2p"] is False
    assert (await a.event("room.update", room=dm["id"]))["data"]["room"]["p2p"] is False


async def test_switching_to_the_same_state_emits_nothing(make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    dm = await new_room(alice, bob, kind="direct")
    await alice.call("PATCH", f"/api/rooms/{dm['id']}", {"p2p": True})
    b = await bob.connect()

    status, body = await alice.call("PATCH", f"/api/rooms/{dm['id']}", {"p2p": True})

    assert status == 200 and body["room"]["p2p"] is True
    await b.ok({"type": "ping"})  # everything before the pong has arrived
    assert not [e for e in b.events() if e.get("kind") == "room.update"]


async def test_only_dm_participants_switch_and_only_dms_can_be_p2p(
    make_user: UserFactory,
) -> None:
    alice, bob, eve = await make_user("alice"), await make_user("bob"), await make_user("eve")
    dm = await new_room(alice, bob, kind="direct")
    group = await new_room(alice, bob)

    status, body = await eve.call("PATCH", f"/api/rooms/{dm['id']}", {"p2p": True})
    assert status == 404 and body["error"]["code"] == "not_found"

    status, body = await alice.call("PATCH", f"/api/rooms/{group['id']}", {"p2p": True})
    assert status == 409 and body["error"]["code"] == "conflict"

    for bad in ({"p2p": "yes"}, {"p2p": 1}, {"p2p": None}, {"p2p": True, "topic": "x"}):
        status, body = await alice.call("PATCH", f"/api/rooms/{dm['id']}", bad)
        assert status == 400 and body["error"]["code"] == "bad_request", bad

    assert (await alice.get(f"/api/rooms/{dm['id']}"))["room"]["p2p"] is False
    assert (await alice.get(f"/api/rooms/{group['id']}"))["room"]["p2p"] is False
