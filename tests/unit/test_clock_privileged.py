"""The root helper's set-clock: validation, plan, and the executor's own rule (never over
NTP, never backwards), with the clock calls injected: nothing here changes the host."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from appliance.privileged import validate
from appliance.privileged.commands import FAKE_HWCLOCK, Run, SetClock, build_plan
from appliance.privileged.executor import DryRun, StepFailed, set_clock
from appliance.privileged.validate import InvalidArgument
from appliance.system.clock import kernel_synchronized, timesyncd_synchronized
from appliance.tls.issue import CLOCK_FLOOR

NOV_2026 = 1_795_932_000_123  # 2026-11-29T06:00:00.123Z


def test_the_lowest_time_is_the_software_floor() -> None:
    assert int(CLOCK_FLOOR.timestamp() * 1000) == validate.CLOCK_MIN_MS
    assert int(datetime(2046, 1, 1, tzinfo=UTC).timestamp() * 1000) == validate.CLOCK_MAX_MS


@pytest.mark.parametrize(
    "value", [str(validate.CLOCK_MIN_MS), str(NOV_2026), str(validate.CLOCK_MAX_MS - 1)]
)
def test_valid_times(value: str) -> None:
    assert validate.epoch_ms(value) == int(value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "decimal digits"),
        ("-1", "decimal digits"),
        ("+1795932000123", "decimal digits"),
        ("1795932000123.5", "decimal digits"),
        ("01795932000123", "decimal digits"),
        (" 1795932000123", "decimal digits"),
        ("1795932000123\n", "decimal digits"),
        ("١٧٩٥٩٣٢٠٠٠١٢٣", "decimal digits"),  # Arabic-Indic digits: int() would take them
        ("9" * 17, "decimal digits"),
        ("0", "decimal digits"),
        (str(validate.CLOCK_MIN_MS - 1), "from 2026-01-01"),  # before the software existed
        (str(validate.CLOCK_MAX_MS), "to 2045-12-31"),  # more than 20 years on
    ],
)
def test_invalid_times_are_refused_with_a_reason(value: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        validate.epoch_ms(value)
    with pytest.raises(InvalidArgument):
        build_plan("set-clock", [value], None)


def test_set_clock_plan() -> None:
    plan = build_plan("set-clock", [str(NOV_2026)], None)
    assert plan == (SetClock(NOV_2026), Run(FAKE_HWCLOCK, optional=True))
    assert DryRun().execute(plan) == (
        "dry run: set the clock forward to 2026-11-29T06:00:00.123Z if not synchronised;"
        " run fake-hwclock save (if installed)"
    )
    with pytest.raises(InvalidArgument, match="takes no passphrase"):
        build_plan("set-clock", [str(NOV_2026)], "secret")
    with pytest.raises(InvalidArgument, match="expects EPOCH_MS"):
        build_plan("set-clock", [], None)


class FakeClock:
    def __init__(self, now_ns: int) -> None:
        self.now_ns = now_ns
        self.set_to: list[int] = []

    def read(self, clock: int) -> int:
        assert clock == time.CLOCK_REALTIME
        return self.now_ns

    def write(self, clock: int, ns: int) -> None:
        assert clock == time.CLOCK_REALTIME
        self.set_to.append(ns)


def test_the_helper_sets_an_unsynchronised_clock_forward() -> None:
    clock = FakeClock(1_780_000_000_000 * 1_000_000)  # a Pi at its image's build date
    set_clock(NOV_2026, synchronized=False, read=clock.read, write=clock.write)
    assert clock.set_to == [NOV_2026 * 1_000_000]


@pytest.mark.parametrize("state", [True, None])
def test_the_helper_never_overrides_ntp_or_an_unknown_state(state: bool | None) -> None:
    clock = FakeClock(1_780_000_000_000 * 1_000_000)
    with pytest.raises(StepFailed, match="synchronised"):
        set_clock(NOV_2026, synchronized=state, read=clock.read, write=clock.write)
    assert clock.set_to == []


def test_the_helper_never_sets_the_clock_back() -> None:
    clock = FakeClock((NOV_2026 + 1) * 1_000_000)
    with pytest.raises(StepFailed, match="never set back"):
        set_clock(NOV_2026, synchronized=False, read=clock.read, write=clock.write)
    assert clock.set_to == []


def test_a_refused_clock_setting_is_reported_not_raised_raw() -> None:
    def refuse(clock: int, ns: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    with pytest.raises(StepFailed, match="cannot set the clock: Operation not permitted"):
        set_clock(NOV_2026, synchronized=False, read=lambda c: 0, write=refuse)


def test_the_probes_answer_on_this_machine(tmp_path: Path) -> None:
    assert kernel_synchronized() in (True, False)  # adjtimex is allowed here (no seccomp)
    flag = tmp_path / "synchronized"
    assert timesyncd_synchronized(flag) is False
    flag.touch()
    assert timesyncd_synchronized(flag) is True
