"""The notification rule (appliance/notify/policy.py) against the table of cases its web
app twin (src/notifications/policy.ts) runs too, so both decide alike."""

from __future__ import annotations

import json
from datetime import datetime, time
from pathlib import Path
from typing import Any, cast

import pytest

from appliance.notify.policy import (
    Level,
    MessageFacts,
    NotifySettings,
    RoomKind,
    RoomNotify,
    format_hhmm,
    parse_hhmm,
    should_notify,
)

CASES_FILE = (
    Path(__file__).resolve().parents[2] / "appliance/web/spa/src/notifications/policyCases.json"
)
CASES: list[dict[str, Any]] = json.loads(CASES_FILE.read_text(encoding="utf-8"))["cases"]
READER = 1


def settings_of(wire: dict[str, Any]) -> NotifySettings:
    """Settings in the API's shape (missing fields: the defaults) as the rule takes them."""
    defaults = NotifySettings()
    start, end = wire.get("dnd_start"), wire.get("dnd_end")
    return NotifySettings(
        direct_level=cast(Level, wire.get("direct_level", defaults.direct_level)),
        group_level=cast(Level, wire.get("group_level", defaults.group_level)),
        keywords=tuple(wire.get("keywords", ())),
        dnd_start=None if start is None else parse_hhmm(start),
        dnd_end=None if end is None else parse_hhmm(end),
        snoozed_until=wire.get("snoozed_until"),
        hide_text=bool(wire.get("hide_text", False)),
        rooms={
            int(key): RoomNotify(level=own["level"], muted_until=own["muted_until"])
            for key, own in wire.get("rooms", {}).items()
        },
    )


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_the_rule_decides_each_case_of_the_shared_table(case: dict[str, Any]) -> None:
    m = case["message"]
    facts = MessageFacts(
        room_id=m["room_id"],
        room_kind=cast(RoomKind, m["room_kind"]),
        author_id=m["author_id"],
        body=m["body"],
        mentions_reader=m["mentions_reader"],
    )
    now_ms = int(datetime.fromisoformat(case["now"]).timestamp() * 1000)
    decided = should_notify(
        settings_of(case["settings"]),
        facts,
        reader_id=READER,
        now_ms=now_ms,
        timezone=case["timezone"],
    )
    assert decided is case["expect"]


def test_times_of_day_are_read_only_as_hh_mm() -> None:
    assert [parse_hhmm(t) for t in ("00:00", "07:05", "23:59")] == [
        time(0, 0),
        time(7, 5),
        time(23, 59),
    ]
    assert format_hhmm(time(7, 5)) == "07:05"
    for bad in ("24:00", "7:00", "07:60", "07:00:00", " 07:00", "０7:00", ""):
        assert parse_hhmm(bad) is None, bad
