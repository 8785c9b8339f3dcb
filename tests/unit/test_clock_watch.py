"""The clock-step watcher with injected clocks, and the in-memory deadlines a step moves."""

from __future__ import annotations

from appliance.chat.call_registry import CallLimits, CallRegistry
from appliance.clock.steps import describe
from appliance.clock.watch import ClockWatch
from appliance.ratelimit import FailureWindow, TokenBuckets
from appliance.setup_wizard.state import WIZARD_TTL_S, Wizards

DAY = 86400.0


class Clocks:
    """A wall clock and a boot clock that the test moves."""

    def __init__(self, wall: float = 1_700_000_000.0) -> None:
        self.wall_now = wall
        self.boot_now = 100.0

    def wall(self) -> float:
        return self.wall_now

    def boot(self) -> float:
        return self.boot_now

    def run(self, seconds: float) -> None:
        self.wall_now += seconds
        self.boot_now += seconds


def test_time_passing_is_no_step() -> None:
    c = Clocks()
    watch = ClockWatch(c.wall, c.boot)
    for _ in range(1000):
        c.run(2.0)
        assert watch.look() is None
    c.run(30 * DAY)  # a long stall of the process is still no step
    assert watch.look() is None


def test_a_forward_step_is_seen_once_with_its_size() -> None:
    c = Clocks()
    watch = ClockWatch(c.wall, c.boot)
    c.run(2.0)
    c.wall_now += 90 * DAY  # NTP's first sync after a first boot at the build date
    c.run(0.5)
    step = watch.look()
    assert step is not None
    assert step.delta_s == 90 * DAY and step.delta_ms == 90 * 86_400_000
    assert step.since_s == 2.5 and step.wall_now == c.wall_now
    c.run(2.0)
    assert watch.look() is None  # the next look compares with the new clock


def test_a_backward_step_is_seen() -> None:
    c = Clocks()
    watch = ClockWatch(c.wall, c.boot)
    c.run(1.0)
    c.wall_now -= 3600.0
    step = watch.look()
    assert step is not None and step.delta_s == -3600.0


def test_steps_under_the_threshold_and_slewing_are_ignored() -> None:
    c = Clocks()
    watch = ClockWatch(c.wall, c.boot, threshold_s=60.0)
    c.run(2.0)
    c.wall_now += 59.0
    assert watch.look() is None
    for _ in range(10_000):  # NTP slewing at its maximum, 500 ppm, for hours
        c.boot_now += 2.0
        c.wall_now += 2.0 * 1.0005
        assert watch.look() is None


def test_restore_makes_the_next_look_see_the_step_again() -> None:
    c = Clocks()
    watch = ClockWatch(c.wall, c.boot)
    before = watch.reference()
    c.wall_now += 7 * DAY
    assert watch.look() is not None
    watch.restore(before)  # acting on it failed
    c.run(2.0)
    step = watch.look()
    assert step is not None and step.delta_s == 7 * DAY and step.since_s == 2.0


def test_the_window_of_stamps_taken_with_the_new_clock() -> None:
    c = Clocks()
    watch = ClockWatch(c.wall, c.boot)
    c.run(2.0)
    c.wall_now += DAY
    step = watch.look()
    assert step is not None
    # Written after the step (new clock): within the window; before it: far outside.
    assert step.new_clock_from_ms() <= int((c.wall_now - 1.5) * 1000)
    assert step.new_clock_until_ms() >= int(c.wall_now * 1000)
    assert int((c.wall_now - DAY) * 1000) < step.new_clock_from_ms()


def test_the_log_line_reads_well() -> None:
    assert describe(90 * DAY) == "+90 days, 0:00:00 (+7776000.0 s)"
    assert describe(-3600.4) == "-1:00:00 (-3600.4 s)"


def test_a_step_back_does_not_starve_a_token_bucket() -> None:
    buckets: TokenBuckets[int] = TokenBuckets(rate=1.0, burst=5)
    now = 1_700_000_000.0
    for _ in range(5):
        assert buckets.take(1, now) == 0
    now -= DAY  # the clock stepped back a day
    assert buckets.take(1, now) <= 1.0  # at most one token's wait, not a day's
    assert buckets.take(1, now + 2.0) == 0


def test_a_step_back_locks_a_login_for_at_most_its_window() -> None:
    window: FailureWindow[str] = FailureWindow(limit=3, window_s=600)
    now = 1_700_000_000.0
    for _ in range(3):
        window.fail("alice", now)
    assert 0 < window.retry_after("alice", now) <= 600
    now -= DAY
    assert 0 < window.retry_after("alice", now) <= 600
    assert window.retry_after("alice", now + 601) == 0


def test_a_step_keeps_a_ringing_call_and_a_rejoin_grace_on_time() -> None:
    registry = CallRegistry(CallLimits(ring_timeout_s=45, rejoin_grace_s=20))
    now = 1_700_000_000.0
    registry.join(1, 1, 11, audio=True, video=False, members={1, 2}, now=now)
    registry.join(1, 3, 13, audio=True, video=False, members={1, 2, 3}, now=now)
    registry.disconnected(13, now)  # user 3's socket dropped: 20 s to come back
    registry.shift_clock(90 * DAY)
    now += 90 * DAY
    assert registry.next_deadline() == now + 20
    assert not registry.tick(now + 19)  # still ringing user 2, user 3 still expected back
    assert registry.calls[1].ringing == {2}
    assert 3 in registry.calls[1].participants
    registry.tick(now + 21)
    assert 3 not in registry.calls[1].participants
    ended = registry.tick(now + 46)
    assert [s.reason for s in ended.ring_stops] == ["timeout"]


def test_a_step_keeps_a_wizard_alive() -> None:
    wizards = Wizards()
    now = 1_700_000_000.0
    state = wizards.start(now)
    wizards.shift_clock(90 * DAY)
    assert wizards.get(state.token, now + 90 * DAY + WIZARD_TTL_S - 10) is state
    assert wizards.get(state.token, now + 90 * DAY + WIZARD_TTL_S + 10) is None
