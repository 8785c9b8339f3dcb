"""Shared helpers for the Pychat benchmarks: processes, measurements, tables.

Not a test module: imported by bench/fanout.py and bench/ingest.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
CACHE_DIR = BENCH_DIR / ".cache"
VENV_BIN = ROOT / ".venv" / "bin"
PYTHON = str(VENV_BIN / "python") if (VENV_BIN / "python").exists() else sys.executable
PYCHAT = str(VENV_BIN / "pychat")
LISTEN_RE = re.compile(r"listening on (https?)://([0-9.]+):(\d+)")
BIG = "1000000"

# Limits relaxed for benchmarks (everything a single test client could trip).
RELAXED_ENV = {
    "PYCHAT_LIMITS_SEND_PER_SECOND": BIG,
    "PYCHAT_LIMITS_SEND_BURST": BIG,
    "PYCHAT_LIMITS_WS_PER_IP": BIG,
    "PYCHAT_LIMITS_WS_PER_USER": BIG,
    "PYCHAT_LIMITS_FRAMES_PER_SECOND": BIG,
    "PYCHAT_LIMITS_FRAMES_BURST": BIG,
    "PYCHAT_WS_SEND_BUFFER_BYTES": str(64 << 20),
    "PYCHAT_AUTH_LOGIN_FAILURES_PER_IP": BIG,
    "PYCHAT_AUTH_LOGIN_FAILURES_PER_USER": BIG,
    # Thousands of sockets from 127.0.0.1: the per-address cap is for an attacker, not a bench.
    "PYCHAT_SERVER_CONNECTIONS_PER_IP": BIG,
    "PYCHAT_AUTH_HASH_QUEUE": "100000",
    "PYCHAT_LIMITS_ROOM_CREATES_BURST": BIG,
}


def raise_nofile() -> int:
    """Raise RLIMIT_NOFILE to the hard limit (inherited by children); return it."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class ServerProcess:
    """A server subprocess that prints `... listening on http://HOST:PORT` when ready."""

    def __init__(
        self, argv: Sequence[str], env: dict[str, str] | None = None, name: str = ""
    ) -> None:
        self.argv = list(argv)
        self.env = {**os.environ, **(env or {})}
        self.name = name or Path(self.argv[0]).name
        self.proc: subprocess.Popen[bytes] | None = None
        self.host = ""
        self.port = 0
        self.output: deque[str] = deque(maxlen=5000)
        self._ready = threading.Event()
        self._reader = threading.Thread()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 60.0) -> ServerProcess:
        self.proc = subprocess.Popen(
            self.argv,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        apply_nice(NICE[0], self.proc.pid)  # its own session: its own autogroup
        # A thread keeps reading the output, so a chatty server never blocks on a full pipe.
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._ready.wait(timeout)
        if not self.port:
            out = "\n".join(list(self.output)[-30:])
            self.stop()
            raise RuntimeError(f"{self.name} did not report a listening address:\n{out}")
        return self

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            self.output.append(line)
            if not self.port:
                m = LISTEN_RE.search(line)
                if m:
                    self.host, self.port = m.group(2), int(m.group(3))
                    self._ready.set()
        self._ready.set()

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                print(f"  ! {self.name} ignored SIGTERM for {timeout:.0f} s: killed", flush=True)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        if self._reader.is_alive():
            self._reader.join(5)
        return self.proc.returncode


def _tree(pid: int) -> list[psutil.Process]:
    try:
        p = psutil.Process(pid)
        return [p, *p.children(recursive=True)]
    except psutil.Error:
        return []


def rss_bytes(pid: int) -> int:
    total = 0
    for p in _tree(pid):
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


def cpu_seconds(pid: int) -> float:
    total = 0.0
    for p in _tree(pid):
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            total += t.user + t.system
    return total


def threads_cpu(pid: int) -> dict[int, float]:
    try:
        return {t.id: t.user_time + t.system_time for t in psutil.Process(pid).threads()}
    except psutil.Error:
        return {}


def percentile(sorted_values: Sequence[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(q / 100.0 * (len(sorted_values) - 1))))
    return float(sorted_values[k])


def pcts(values_us: Sequence[int], qs: Sequence[float] = (50, 95, 99)) -> list[float]:
    """Percentiles in milliseconds of a sequence of microsecond values."""
    s = sorted(values_us)
    return [percentile(s, q) / 1000.0 for q in qs]


@dataclass
class Row:
    metric: str
    ours: float | None
    bare: float | None = None
    unit: str = ""
    target: str = ""
    ok: bool | None = None
    note: str = ""
    extra: dict[str, float] = field(default_factory=dict)


def fmt(v: float | None) -> str:
    if v is None or v != v:  # None or NaN
        return "-"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def print_table(title: str, rows: Sequence[Row]) -> None:
    header = ("metric", "pychat", "bare", "ratio", "target", "ok")
    body: list[tuple[str, ...]] = []
    for r in rows:
        ratio = r.ours / r.bare if r.ours is not None and r.bare else None
        ok = "" if r.ok is None else ("yes" if r.ok else "NO")
        name = f"{r.metric} [{r.unit}]" if r.unit else r.metric
        body.append(
            (name, fmt(r.ours), fmt(r.bare), f"{ratio:.2f}x" if ratio else "-", r.target, ok)
        )
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(header)]
    line = "  ".join("-" * w for w in widths)
    print(f"\n== {title}")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print(line)
    for b in body:
        cells = [b[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(b[1:], widths[1:], strict=True)
        ]
        print("  ".join(cells))
    for r in rows:
        if r.note:
            print(f"  * {r.metric}: {r.note}")
    sys.stdout.flush()


def save_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def exit_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit, so `finally` blocks stop the servers we started."""

    def handler(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def wait_quiet(max_wait: float, busy_limit: float = 0.25) -> float:
    """Wait (at most `max_wait` s) until the machine's other work uses < `busy_limit` cores.

    Returns the cores busy in the last 2 s sample. Other processes skew every figure here.
    """
    deadline = time.monotonic() + max_wait
    while True:
        busy = float(psutil.cpu_percent(interval=2.0)) / 100.0 * (psutil.cpu_count() or 1)
        if busy < busy_limit or time.monotonic() >= deadline:
            return busy
        log(f"machine busy ({busy:.0%} of a core in use by other work): waiting for quiet")


NICE = [0]  # set by apply_nice; servers started later get the same priority


def apply_nice(n: int, pid: int = 0) -> None:
    """Run this process (or `pid`) and what it starts at nice `n` (negative needs root).

    With kernel autogroups on, nice only ranks processes within one session, so the
    session's autogroup gets the same nice too. On a machine shared with other work,
    e.g. --nice -10 keeps that work from skewing the figures; the real and the bare server
    get the same treatment.
    """
    if not n:
        return
    if pid == 0:
        NICE[0] = n
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, pid, n)
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid or 'self'}/autogroup").write_text(str(n))
