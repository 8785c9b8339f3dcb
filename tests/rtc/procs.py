"""Stopping servers that run under ``timeout``: signal the server itself, not ``timeout``."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        return [int(p) for p in path.read_text().split()]
    except OSError:
        return []


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> int:
    """Send ``sig`` to the command that ``timeout`` runs and return its exit status."""
    targets = children(process.pid)
    if targets:
        for pid in targets:
            os.kill(pid, sig)
    else:
        process.send_signal(sig)
    try:
        return process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()
