"""The shared password-hashing pool and the per-key gates in front of it stay bounded."""

from __future__ import annotations

import asyncio
import threading

import pytest

from appliance.errors import RateLimited
from appliance.passwords import HashPool
from appliance.ratelimit import Busy, FailureWindow, InFlight

WAIT = 10.0


async def test_a_full_pool_refuses_at_once_and_frees_its_slots_when_threads_finish() -> None:
    pool = HashPool(workers=1, queue=1)
    gate = threading.Event()
    running = [asyncio.ensure_future(pool.run(gate.wait, WAIT)) for _ in range(2)]
    await asyncio.sleep(0)  # both submitted: one in the thread, one queued
    with pytest.raises(RateLimited) as refused:
        await pool.run(lambda: True)
    assert refused.value.code == "rate_limited" and refused.value.retry_after_s > 0
    # A caller that gives up does not free its slot while its thread still hashes.
    running[0].cancel()
    with pytest.raises(RateLimited):
        await pool.run(lambda: True)
    gate.set()
    assert await asyncio.wait_for(running[1], WAIT) is True
    assert await asyncio.wait_for(pool.run(lambda: 42), WAIT) == 42
    assert pool.pending == 0


async def test_one_key_cannot_take_more_than_its_places() -> None:
    gate: InFlight[str] = InFlight(running=1, waiting=1)
    release = asyncio.Event()
    entered: list[str] = []

    async def hold(key: str) -> None:
        async with gate.hold(key):
            entered.append(key)
            await release.wait()

    tasks = [asyncio.ensure_future(hold("flood")) for _ in range(2)]
    await asyncio.sleep(0)
    with pytest.raises(Busy):
        async with gate.hold("flood"):
            pass
    other = asyncio.ensure_future(hold("colleague"))  # another key is not held back
    await asyncio.sleep(0)
    assert entered == ["flood", "colleague"]
    release.set()
    await asyncio.wait_for(asyncio.gather(*tasks, other), WAIT)
    assert gate.held("flood") == 0 and entered.count("flood") == 2


def test_attempts_count_before_they_are_checked() -> None:
    window: FailureWindow[str] = FailureWindow(3, 60)
    assert [window.attempt("k", 0.0) == 0 for _ in range(5)] == [True] * 3 + [False] * 2
    window.forgive("k")  # one of them turned out right
    assert window.attempt("k", 1.0) == 0 and window.attempt("k", 1.0) > 0
    assert window.attempt("k", 61.0) == 0  # the window passed
