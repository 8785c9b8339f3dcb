"""The call registry's rings on purpose and the outcomes a call's timeline record takes
(issue 15): time driven by hand."""

from __future__ import annotations

import pytest

from appliance.chat.call_registry import CallLimits, CallRegistry
from appliance.errors import BadRequest, NotFound

ALICE, BOB, CAROL = 1, 2, 3
ROOM = 10
LIMITS = CallLimits(ring_timeout_s=45, rejoin_grace_s=20, max_participants=4, ring_max_members=3)
MEMBERS = {ALICE, BOB, CAROL}


def test_a_call_that_does_not_ring_rings_nobody_and_records_its_start() -> None:
    reg = CallRegistry(LIMITS)
    call, _, notices = reg.join(
        ROOM, ALICE, 100, audio=True, video=False, members=MEMBERS, now=0, ring=False
    )
    assert notices.rings == [] and call.ringing == set() and not call.rang
    assert [c.id for c in notices.started] == [call.id]


def test_a_ring_on_purpose_has_its_own_deadline_and_never_ends_the_call() -> None:
    reg = CallRegistry(LIMITS)
    reg.join(ROOM, ALICE, 100, audio=True, video=False, members=MEMBERS, now=0, ring=False)
    notices = reg.ring(ROOM, ALICE, BOB, MEMBERS, now=10)
    assert notices.rung == [(ROOM, BOB, ALICE)] and notices.changed == [ROOM]
    assert reg.next_deadline() == 55
    assert reg.ring(ROOM, ALICE, BOB, MEMBERS, now=11).rung == []  # already rung
    notices = reg.tick(55)
    assert [(s.users, s.reason) for s in notices.ring_stops] == [(frozenset({BOB}), "timeout")]
    call = reg.get(ROOM)
    assert call is not None and set(call.participants) == {ALICE} and not notices.finished


def test_bad_rings_are_refused() -> None:
    reg = CallRegistry(LIMITS)
    with pytest.raises(NotFound):
        reg.ring(ROOM, ALICE, BOB, MEMBERS, now=0)  # no call
    reg.join(ROOM, ALICE, 100, audio=True, video=False, members=MEMBERS, now=0, ring=False)
    with pytest.raises(NotFound):
        reg.ring(ROOM, BOB, CAROL, MEMBERS, now=1)  # not in the call
    with pytest.raises(BadRequest):
        reg.ring(ROOM, ALICE, ALICE, MEMBERS, now=1)
    with pytest.raises(NotFound):
        reg.ring(ROOM, ALICE, 99, MEMBERS, now=1)  # not a member


def test_an_answered_call_ends_with_its_duration_and_an_unanswered_one_is_missed() -> None:
    reg = CallRegistry(LIMITS)
    reg.join(ROOM, ALICE, 100, audio=True, video=False, members={ALICE, BOB}, now=0)
    reg.join(ROOM, BOB, 200, audio=True, video=False, members={ALICE, BOB}, now=2)
    reg.leave(ROOM, 100, now=60)
    notices = reg.leave(ROOM, 200, now=62.5)
    [done] = notices.finished
    assert (done.event, done.started_by, done.duration_ms, done.ended_at) == (
        "ended",
        ALICE,
        62500,
        62500,
    )

    reg.join(ROOM, ALICE, 100, audio=True, video=False, members={ALICE, BOB}, now=100)
    [done] = reg.tick(145).finished
    assert done.event == "missed" and reg.get(ROOM) is None
