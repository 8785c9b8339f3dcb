"""Carry out a plan (commands.py) on the host, or only describe it (`--dry-run`, tests).

Only this module changes the machine. Programs are found on a fixed PATH and run with a
minimal environment, no stdin and a timeout; files are written without following
symlinks. A failing step stops the plan and raises StepFailed (its output goes to the log,
never to the caller).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from ..system import durable
from ..system.clock import kernel_synchronized
from .commands import EditFile, Plan, Run, SetClock, Step, WriteFile

log = logging.getLogger(__name__)

SAFE_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
RUN_TIMEOUT_S = 60.0


class StepFailed(RuntimeError):
    """A step did not succeed; the message is safe to show (no output, no secrets)."""


class Executor(Protocol):
    def execute(self, plan: Plan) -> str: ...


class DryRun:
    """Describes the plan and changes nothing."""

    def execute(self, plan: Plan) -> str:
        return "dry run: " + "; ".join(step.describe() for step in plan)


class SystemExecutor:
    """Applies the plan to this machine. Only the root helper service uses it."""

    def execute(self, plan: Plan) -> str:
        for step in plan:
            log.info("%s", step.describe())
            _apply(step)
        return "done"


def _apply(step: Step) -> None:
    if isinstance(step, Run):
        _run(step.argv, optional=step.optional)
    elif isinstance(step, SetClock):
        set_clock(step.epoch_ms, synchronized=kernel_synchronized())
    elif isinstance(step, WriteFile):
        write_atomically(step.path, step.content, step.mode)
    else:
        _edit_in_place(step)


def _run(argv: tuple[str, ...], *, optional: bool = False) -> None:
    program = shutil.which(argv[0], path=SAFE_PATH)
    if program is None and optional:
        log.info("%s is not installed: skipped", argv[0])
        return
    if program is None:
        raise StepFailed(f"{argv[0]} is not installed")
    try:
        done = subprocess.run(  # noqa: S603 - argv is from a validated plan, no shell
            [program, *argv[1:]],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env={"PATH": SAFE_PATH, "LANG": "C.UTF-8"},
            timeout=RUN_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise StepFailed(f"{argv[0]} did not finish within {RUN_TIMEOUT_S:.0f} s") from None
    if done.returncode != 0:
        output = (done.stderr or done.stdout).decode("utf-8", "replace").strip()
        log.error("%s exited with %d: %s", argv[0], done.returncode, output[-2000:])
        raise StepFailed(f"{argv[0]} failed (exit status {done.returncode})")


def set_clock(
    epoch_ms: int,
    *,
    synchronized: bool | None,
    read: Callable[[int], int] = time.clock_gettime_ns,
    write: Callable[[int, int], object] = time.clock_settime_ns,
) -> None:
    """The root side's own rule (docs/operations.md, "The clock"): never over NTP's time,
    never backwards. The server checks the same, but the helper trusts no caller."""
    if synchronized is not False:
        raise StepFailed("the clock is synchronised (or its state unknown): left as it is")
    target_ns = epoch_ms * 1_000_000
    if target_ns <= read(time.CLOCK_REALTIME):
        raise StepFailed("the clock is never set back")
    try:
        write(time.CLOCK_REALTIME, target_ns)
    except OSError as e:
        raise StepFailed(f"cannot set the clock: {e.strerror}") from None


def write_atomically(path: Path, content: bytes, mode: int) -> None:
    try:
        durable.write_file(path, content, mode=mode)
    except OSError as e:
        raise StepFailed(f"cannot write {path}: {e.strerror}") from None


def _edit_in_place(step: EditFile) -> None:
    try:
        fd = os.open(step.path, os.O_RDWR | os.O_NOFOLLOW)
    except OSError as e:
        raise StepFailed(f"cannot open {step.path}: {e.strerror}") from None
    try:
        with os.fdopen(fd, "r+", encoding="utf-8") as f:
            before = f.read()
            after = step.edit(before)
            if after != before:
                f.seek(0)
                f.write(after)
                f.truncate()
                f.flush()
                os.fsync(f.fileno())
    except (OSError, UnicodeError) as e:
        raise StepFailed(f"cannot edit {step.path}: {e}") from None
