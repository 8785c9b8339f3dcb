"""A real `pychat serve` on a fresh data folder for the single-server benchmarks
(upload_rss.py, login_rss.py, sigterm_upload.py), and a sampler of its peak RSS."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "bench-password-1"  # the admin's, user `admin`
LISTEN = re.compile(r"listening on (http://\S+)")


def start_server(data: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    """`pychat init` then `pychat serve` on a free loopback port, from `env["PYTHONPATH"]`
    (another checkout) when set; returns the process and its URL."""
    cwd = env.get("PYTHONPATH") or str(ROOT)  # `-m` looks in the working directory first
    init = subprocess.run(
        [sys.executable, "-m", "appliance", "init", "--org", "Bench", "--admin", "admin",
         "--password-stdin", "--data", str(data)],
        input=PASSWORD + "\n", capture_output=True, text=True, env=env, cwd=cwd, check=False,
    )  # fmt: skip
    if init.returncode != 0:
        raise SystemExit(init.stderr)
    proc = subprocess.Popen(
        [sys.executable, "-m", "appliance", "serve", "--data", str(data),
         "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=cwd,
    )  # fmt: skip
    assert proc.stdout is not None
    for line in proc.stdout:
        if match := LISTEN.search(line):
            threading.Thread(target=_drain, args=(proc,), daemon=True).start()
            return proc, match.group(1)
    raise SystemExit("the server did not start")


def _drain(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    for _ in proc.stdout:
        pass


class RssSampler:
    """The peak RSS of one process, sampled every 20 ms while the `with` block runs."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            self._stop.wait(0.02)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
