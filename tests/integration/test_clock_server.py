"""The real server across a step of its wall clock, with no test hook in the server.

libfaketime (Debian's `libfaketime`, preloaded into the server process only) moves the
server's CLOCK_REALTIME while its boot clock runs on: the server starts at "the image's
build date", 90 days back, and then NTP "syncs". Nobody is logged out.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.client import Client
from tests.server import ADMIN_PASSWORD, Server
from tests.waiting import wait_until

DAY_MS = 86_400_000
LIBFAKETIME = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))

pytestmark = pytest.mark.skipif(not LIBFAKETIME, reason="needs Debian's libfaketime")


def _set_clock(clock_file: Path, offset: str) -> None:
    """libfaketime reads the file at every look: replaced whole, it never sees it empty or
    half written (a write in place could show it a passing offset, and a step of its own)."""
    written = clock_file.with_suffix(".new")
    written.write_text(offset + "\n")
    os.replace(written, clock_file)


def _server_at_build_date(make_server: Callable[..., Server], clock_file: Path) -> Server:
    _set_clock(clock_file, "-90d")
    return make_server(
        {
            "LD_PRELOAD": LIBFAKETIME[0],
            "FAKETIME_TIMESTAMP_FILE": str(clock_file),
            "FAKETIME_NO_CACHE": "1",  # read the offset at every look: the step is immediate
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",  # the boot clock stays real
        }
    )


async def _wait_for_log(server: Server, text: str, timeout: float = 15.0) -> None:
    await wait_until(
        lambda: text in server.log(),
        what=f"{text!r} is in the server's log",
        timeout=timeout,
        explain=server.log,
    )


async def test_ntp_moving_the_clock_90_days_forward_logs_nobody_out(
    make_server: Callable[..., Server], tmp_path: Path
) -> None:
    clock_file = tmp_path / "faketime"
    server = _server_at_build_date(make_server, clock_file)
    active, idle = Client(server.url), Client(server.url)
    try:
        await active.login("admin", ADMIN_PASSWORD)
        await idle.login("admin", ADMIN_PASSWORD)
        before = {s["id"]: s for s in (await active.get("/api/sessions"))["sessions"]}
        _set_clock(clock_file, "+0")  # NTP's first sync: the clock jumps 90 days ahead

        # The very next request, before the maintenance loop looks: still signed in.
        after = {s["id"]: s for s in (await active.get("/api/sessions"))["sessions"]}
        assert set(after) == set(before)
        idle_id = next(i for i, s in after.items() if not s["current"])
        moved = after[idle_id]["expires_at"] - before[idle_id]["expires_at"]
        assert abs(moved - 90 * DAY_MS) < 60_000  # the step, to within the detection limit
        status, _ = await idle.call("GET", "/api/sessions")
        assert status == 200

        await _wait_for_log(server, "wall clock stepped by +90 days")
        _set_clock(clock_file, "-1d")  # and back a day (a clock that was ahead)
        await _wait_for_log(server, "wall clock stepped by -1 day")
        status, _ = await idle.call("GET", "/api/sessions")
        assert status == 200
        assert server.log().count("wall clock stepped") == 2  # each step corrected once
    finally:
        await active.close()
        await idle.close()
