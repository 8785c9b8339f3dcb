"""Start-up stays light: the real `pychat serve`, on a fresh data folder, is listening before
it imports the libraries only some requests need (PyAV, Pillow, aiortc, zeroconf, jinja2,
segno); they load on first use, and the pages that use them still work. (The time itself is
bench/startup.py's: timing lives in the benchmarks.)"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

# Packages loaded on use, or in the decode processes: never before the server listens.
ON_USE = ("av", "PIL", "aiortc", "aioice", "zeroconf", "ifaddr", "jinja2", "segno")
LISTENING = re.compile(r"Pychat listening on (https?://\S+)")
NOT_SET_UP = "This Pychat is not set up yet"  # printed once it handles SIGTERM
LOADED = re.compile(r"loaded before listening: \[(.*)\]")

# Runs the ordinary command line, and when the server prints that it is listening, prints
# first which of the given packages this process had imported by then.
_REPORT_AT_LISTENING = """
import runpy, sys
watched = sys.argv.pop(1).split(",")
write = sys.stdout.write

def report(text):
    if "listening on" in text:
        names = list(sys.modules)
        loaded = sorted({w for w in watched for n in names if n == w or n.startswith(w + ".")})
        write(f"loaded before listening: {loaded}\\n")
    return write(text)

sys.stdout.write = report
sys.argv[0] = "appliance"
runpy.run_module("appliance", run_name="__main__", alter_sys=True)
"""


class Serving:
    """`pychat serve` through the reporting wrapper; its output, read until it listens."""

    def __init__(self, data: Path, env: dict[str, str]) -> None:
        self.output: list[str] = []
        self.url = ""
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _REPORT_AT_LISTENING, ",".join(ON_USE),
             "serve", "--data", str(data), "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
        )  # fmt: skip
        self._ready = threading.Event()
        self._settled = threading.Event()  # its signal handlers are in place
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)
            if match := LISTENING.search(line):
                self.url = match.group(1)
                self._ready.set()
            if NOT_SET_UP in line:
                self._settled.set()
        self._ready.set()  # it exited
        self._settled.set()

    def wait_listening(self, timeout: float = 60) -> list[str]:
        """The watched packages loaded when it listened."""
        assert self._ready.wait(timeout) and self.url, "never listened:\n" + self.log()
        found = [LOADED.search(line) for line in self.output]
        reports = [m.group(1) for m in found if m]
        assert reports, self.log()
        return re.findall(r"'([^']+)'", reports[0])

    def log(self) -> str:
        return "".join(self.output)

    def stop(self) -> None:
        self._settled.wait(60)  # a SIGTERM before its handlers would just kill it
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)


def test_a_new_server_listens_before_loading_what_only_some_requests_need(
    tmp_path: Path,
) -> None:
    server = Serving(tmp_path / "data", {"PYCHAT_AUTH_SCRYPT_N": "1024"})
    try:
        assert server.wait_listening() == [], server.log()
        # The wizard's templates (jinja2) load on its first page, which still renders.
        with urllib.request.urlopen(server.url + "/setup", timeout=60) as page:
            html = page.read().decode()
        assert page.status == 200
        assert "<form" in html, html[:500]
    finally:
        server.stop()
    assert server.proc.returncode == 0, server.log()


def test_in_appliance_mode_too(tmp_path: Path) -> None:
    """HTTPS needs cryptography before it listens; the rest still waits for its use."""
    env = {
        "PYCHAT_AUTH_SCRYPT_N": "1024",
        "PYCHAT_SERVER_MODE": "appliance",
        "PYCHAT_SERVER_HTTPS_LISTEN": "127.0.0.1:0",
        "PYCHAT_SERVER_HTTP_LISTEN": "127.0.0.1:0",
        "PYCHAT_DISCOVERY_MDNS": "off",  # tests never multicast outside their namespaces
    }
    server = Serving(tmp_path / "data", env)
    try:
        assert server.wait_listening() == [], server.log()
        assert server.url.startswith("https://"), server.log()
    finally:
        server.stop()
    assert server.proc.returncode == 0, server.log()
