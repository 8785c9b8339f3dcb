"""Waiting for something the test cannot be told about: one poll, one timeout, one message.

Prefer an event (a WebSocket frame, a process exit, a line of output). Poll only where
there is none (a file on disk, a row seen over HTTP, the state of a systemd unit); then
use these two helpers, so every such wait has a deadline and fails naming what never came.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar, cast

T = TypeVar("T")

WAIT = 20.0  # seconds before a wait gives up: generous for a loaded 2-core machine
INTERVAL = 0.05  # between two looks: what we wait for is quick, and a look is cheap


def _timed_out(what: str, timeout: float, explain: Callable[[], str] | None) -> AssertionError:
    message = f"timed out after {timeout:g}s waiting until {what}"
    return AssertionError(f"{message}\n{explain()}" if explain else message)


async def wait_until(
    predicate: Callable[[], T | Awaitable[T]],
    *,
    what: str,
    timeout: float = WAIT,
    interval: float = INTERVAL,
    explain: Callable[[], str] | None = None,
) -> T:
    """Call `predicate` (plain or async) until it returns something truthy; return that.

    After `timeout` seconds, fail with an AssertionError naming `what`, followed by
    `explain()` (a server log, say) when given.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return cast(T, value)
        if time.monotonic() > deadline:
            raise _timed_out(what, timeout, explain)
        await asyncio.sleep(interval)


def wait_until_sync(
    predicate: Callable[[], T],
    *,
    what: str,
    timeout: float = WAIT,
    interval: float = INTERVAL,
    explain: Callable[[], str] | None = None,
) -> T:
    """`wait_until` for code that runs without an event loop (systemd tools, fixtures)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise _timed_out(what, timeout, explain)
        time.sleep(interval)
