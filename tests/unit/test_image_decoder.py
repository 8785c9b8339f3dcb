"""The image decode process on its own: answers and errors come back as they were, and a
decode that runs out of memory, dies, hangs or finds the decoder busy ends in a clear
error while the caller carries on."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from appliance.errors import NotFound, RateLimited
from appliance.files.decoder import DecodeFailed, DecodeLimits, Decoder, DecoderStopped
from tests.waiting import wait_until_sync

WAIT = 30.0


def add(a: int, b: int) -> int:
    return a + b


def refuse(message: str) -> None:
    raise NotFound(message)


def allocate(n: int) -> int:
    return len(bytearray(n))


def die() -> None:
    os._exit(3)


def block(started: Path, release: Path) -> str:
    started.touch()
    while not release.exists():
        time.sleep(0.01)
    return "done"


def wait_for(path: Path) -> None:
    wait_until_sync(path.exists, what=f"{path.name} appears", timeout=WAIT, interval=0.01)


def test_a_result_and_an_error_come_back_as_they_were() -> None:
    decoder = Decoder()
    assert decoder.run(add, 2, 3) == 5
    with pytest.raises(NotFound, match="no such thing"):
        decoder.run(refuse, "no such thing")


def test_more_memory_than_allowed_is_a_clear_error_and_the_next_decode_works() -> None:
    decoder = Decoder(DecodeLimits(memory_bytes=128 << 20))
    with pytest.raises(DecodeFailed, match="memory"):
        decoder.run(allocate, 256 << 20)
    assert decoder.run(allocate, 16 << 20) == 16 << 20


def test_a_decode_process_that_dies_is_a_clear_error() -> None:
    decoder = Decoder()
    with pytest.raises(DecodeFailed, match="memory"):
        decoder.run(die)
    assert decoder.run(add, 1, 1) == 2


def test_a_decode_that_never_ends_is_stopped_at_the_timeout(tmp_path: Path) -> None:
    decoder = Decoder(DecodeLimits(timeout_s=1.0))
    with pytest.raises(DecodeFailed, match="too long"):
        decoder.run(block, tmp_path / "started", tmp_path / "never")
    assert decoder.run(add, 1, 1) == 2


def test_beyond_the_queue_callers_are_told_to_retry(tmp_path: Path) -> None:
    decoder = Decoder(DecodeLimits(running=1, waiting=0))
    results: list[object] = []
    first = threading.Thread(
        target=lambda: results.append(
            decoder.run(block, tmp_path / "started", tmp_path / "release")
        )
    )
    first.start()
    try:
        wait_for(tmp_path / "started")
        with pytest.raises(RateLimited, match="try again"):
            decoder.run(add, 1, 1)
    finally:
        (tmp_path / "release").touch()
        first.join(WAIT)
    assert results == ["done"]
    assert decoder.run(add, 1, 1) == 2  # the slot is free again


def test_closing_stops_a_decode_under_way(tmp_path: Path) -> None:
    decoder = Decoder()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            decoder.run(block, tmp_path / "started", tmp_path / "never")
        except BaseException as e:
            errors.append(e)

    caller = threading.Thread(target=run)
    caller.start()
    wait_for(tmp_path / "started")
    decoder.close()
    caller.join(WAIT)
    assert not caller.is_alive() and len(errors) == 1 and isinstance(errors[0], DecoderStopped)
    assert errors[0].status == 503 and "stopping" in errors[0].message
    with pytest.raises(DecoderStopped, match="stopping"):
        decoder.run(add, 1, 1)
