"""The call registry on its own, with time driven by hand: rings time out, seats wait for
their device to come back, calls end when nobody answered or nobody is left."""

from __future__ import annotations

import json

from appliance.chat import call_codec
from appliance.chat.call_registry import CallLimits, CallRegistry

ALICE, BOB, CAROL = 1, 2, 3
ROOM, OTHER = 10, 20
LIMITS = CallLimits(ring_timeout_s=45, rejoin_grace_s=20, max_participants=4, ring_max_members=3)


def test_a_ring_times_out_at_its_deadline_and_ends_the_unanswered_call() -> None:
    reg = CallRegistry(LIMITS)
    _, _, notices = reg.join(ROOM, ALICE, 100, audio=True, video=True, members={ALICE, BOB}, now=0)
    assert notices.rings == [(ROOM, frozenset({BOB}))]
    assert reg.next_deadline() == 45
    assert not reg.tick(44.9)
    notices = reg.tick(45)
    assert [(s.users, s.reason) for s in notices.ring_stops] == [(frozenset({BOB}), "timeout")]
    assert reg.get(ROOM) is None and notices.changed == [ROOM]
    assert reg.next_deadline() is None


def test_an_answered_call_outlives_its_ring_and_ends_with_its_last_participant() -> None:
    reg = CallRegistry(LIMITS)
    members = {ALICE, BOB, CAROL}
    reg.join(ROOM, ALICE, 100, audio=True, video=True, members=members, now=0)
    reg.join(ROOM, BOB, 200, audio=True, video=False, members=members, now=1)
    reg.tick(45)  # Carol never answered
    call = reg.get(ROOM)
    assert call is not None and call.ringing == set() and set(call.participants) == {ALICE, BOB}
    reg.leave(ROOM, 100, now=50)
    assert reg.get(ROOM) is not None  # Bob alone is still in a call that was answered
    reg.leave(ROOM, 200, now=51)
    assert reg.get(ROOM) is None


def test_a_dropped_device_keeps_its_seat_until_the_grace_ends() -> None:
    reg = CallRegistry(LIMITS)
    reg.join(ROOM, ALICE, 100, audio=True, video=True, members={ALICE, BOB}, now=0)
    reg.join(ROOM, BOB, 200, audio=True, video=True, members={ALICE, BOB}, now=1)
    reg.disconnected(200, now=10)
    assert reg.next_deadline() == 30
    call, replaced, _ = reg.join(
        ROOM, BOB, 201, audio=True, video=True, members={ALICE, BOB}, now=15, replaces=200
    )
    seat = call.participants[BOB]
    assert replaced and seat.conn == 201 and seat.joined_at == 1000 and seat.gone_since is None
    reg.disconnected(201, now=20)
    reg.tick(40)
    assert set(call.participants) == {ALICE}


def test_busy_people_are_not_rung_and_joining_elsewhere_leaves_the_first_call() -> None:
    reg = CallRegistry(LIMITS)
    reg.join(OTHER, BOB, 200, audio=True, video=False, members={BOB, CAROL}, now=0)
    reg.join(OTHER, CAROL, 300, audio=True, video=False, members={BOB, CAROL}, now=1)
    call, _, notices = reg.join(
        ROOM, ALICE, 100, audio=True, video=True, members={ALICE, BOB}, now=2
    )
    assert call.busy == {BOB} and call.ringing == set() and notices.rings == []
    reg.join(ROOM, BOB, 201, audio=True, video=True, members={ALICE, BOB}, now=3)
    other = reg.get(OTHER)
    assert other is not None and set(other.participants) == {CAROL}
    assert reg.room_of_user[BOB] == ROOM


def test_big_rooms_are_not_rung_and_a_second_device_moves_the_seat() -> None:
    reg = CallRegistry(LIMITS)
    many = {ALICE, BOB, CAROL, 4}
    call, _, notices = reg.join(ROOM, ALICE, 100, audio=True, video=True, members=many, now=0)
    assert notices.rings == [] and call.ringing == set()
    call, replaced, _ = reg.join(ROOM, ALICE, 101, audio=True, video=True, members=many, now=5)
    assert not replaced and call.participants[ALICE].conn == 101
    assert call.participants[ALICE].joined_at == 5000  # peers negotiate with the new device
    assert reg.leave(ROOM, 100, now=6).changed == []  # the old device holds no seat


def test_leaving_the_room_stops_its_ring() -> None:
    reg = CallRegistry(LIMITS)
    reg.join(ROOM, ALICE, 100, audio=True, video=True, members={ALICE, BOB, CAROL}, now=0)
    notices = reg.remove_user(ROOM, BOB, now=1)
    assert [(s.users, s.reason) for s in notices.ring_stops] == [(frozenset({BOB}), "ended")]
    call = reg.get(ROOM)
    assert call is not None and call.ringing == {CAROL}
    notices = reg.decline(ROOM, CAROL, now=2)
    assert reg.get(ROOM) is None  # nobody left to answer: the caller is not left waiting
    assert [s.reason for s in notices.ring_stops] == ["declined"]


def test_a_registry_read_back_from_its_json_goes_on_as_the_original() -> None:
    """Several nodes keep the registry as JSON in Redis (cluster/calls.py): a copy read back
    from it must decide everything the original would, ringing, busy and absences included."""
    reg = CallRegistry(LIMITS)
    reg.join(ROOM, ALICE, 100, audio=True, video=True, members={ALICE, BOB, CAROL}, now=0)
    reg.join(OTHER, CAROL, 300, audio=True, video=False, members={CAROL, BOB}, now=1)
    reg.ring(ROOM, ALICE, CAROL, {ALICE, BOB, CAROL}, now=2)  # busy in the other call
    reg.disconnected(300, now=3)
    copy = call_codec.decode(call_codec.encode(reg), LIMITS)
    assert json.loads(call_codec.encode(copy)) == json.loads(call_codec.encode(reg))
    assert copy.room_of_user == reg.room_of_user
    assert copy.next_deadline() == reg.next_deadline()
    # The copy goes on exactly as the original does.
    for registry in (reg, copy):
        registry.join(ROOM, BOB, 200, audio=True, video=False, members={ALICE, BOB, CAROL}, now=4)
    assert [c.as_json() for c in copy.calls.values()] == [c.as_json() for c in reg.calls.values()]
    # Carol's grace runs out at 23: her call ends; the ring of her in Alice's call is over.
    assert copy.tick(30) == reg.tick(30)
    assert json.loads(call_codec.encode(copy)) == json.loads(call_codec.encode(reg))
    assert OTHER not in copy.calls
