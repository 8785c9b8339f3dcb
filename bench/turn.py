"""Relayed packets per second and CPU per relayed stream: Pychat's TURN server beside
coturn, both on loopback, both driven by the same `turnutils_uclient` load run.

    .venv/bin/python bench/turn.py                      # the default runs below
    .venv/bin/python bench/turn.py --runs "-m 20 -n 1000 -l 1200 -z 10"

Needs Debian's `coturn` package (`turnserver`, `turnutils_uclient`, `turnutils_peer`,
`turnutils_stunclient`); coturn's own service must stay off (it would hold port 3478: we
use ports below the ephemeral range anyway). Each server gets the same REST secret, a
relay range on 127.0.0.1 and loopback peers allowed; `turnutils_peer` echoes every packet,
so each uclient packet is relayed twice (client → peer and back).

A "stream" is one uclient client: `-l` bytes every `-z` ms each way (1200 B every 10 ms is
~1 Mbit/s, a video call's worth). Figures: relayed packets per wall second while the run
lasted (uclient's transmit time, whole seconds), the server's CPU (user + system, from /proc,
all threads) per relayed packet and its inverse, and the share of one core per stream.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv").exists() else sys.executable
SECRET = "bench-secret-0123456789abcdef"
TURN_PORT, PEER_PORT, RELAYS = 23478, 23500, (24000, 24999)
DEFAULT_RUNS = (
    "-m 20 -n 1000 -l 1200 -z 10",  # 20 streams of ~1 Mbit/s each way
    "-m 10 -n 2000 -l 1200 -z 1",  # 10 streams as fast as uclient paces them
    "-s -m 20 -n 1000 -l 1200 -z 10",  # Send/Data indications (Firefox's way)
)
TOOLS = ("turnserver", "turnutils_uclient", "turnutils_peer", "turnutils_stunclient")
LOST = re.compile(r"Total lost packets (\d+) \(([\d.]+)%\)")
SENT = re.compile(r"start_mclient: tot_send_msgs=(\d+), tot_recv_msgs=(\d+)")
TRANSMIT = re.compile(r"Total transmit time is (\d+)")


@dataclass
class Result:
    server: str
    run: str
    sent: int
    received: int
    lost: int
    seconds: float  # uclient's "Total transmit time" (whole seconds)
    cpu_s: float
    streams: int
    rc: int

    @property
    def relayed(self) -> int:
        return self.sent + self.received  # each way through the relay

    def row(self) -> list[str]:
        per_packet = self.cpu_s / self.relayed * 1e6 if self.relayed else float("nan")
        seconds = max(self.seconds, 1.0)
        return [
            self.server, self.run, f"{self.sent}/{self.received}", str(self.lost),
            f"{self.seconds:.0f}", f"{self.relayed / seconds:,.0f}", f"{self.cpu_s:.2f}",
            f"{per_packet:.1f}", f"{1e6 / per_packet:,.0f}" if self.relayed else "-",
            f"{self.cpu_s / seconds / self.streams * 100:.2f}", str(self.rc),
        ]  # fmt: skip


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its threads, from /proc (clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_for_stun(port: int, deadline_s: float = 15) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        done = subprocess.run(
            ["timeout", "2", "turnutils_stunclient", "-p", str(port), "127.0.0.1"],
            capture_output=True, check=False,
        )  # fmt: skip
        if done.returncode == 0:
            return
        time.sleep(0.2)
    raise RuntimeError(f"no STUN answer on port {port}")


def start_pychat(tmp: Path) -> subprocess.Popen[bytes]:
    secret = tmp / "secret"
    secret.write_text(SECRET + "\n")
    secret.chmod(0o600)
    return subprocess.Popen(
        [PYTHON, "-m", "appliance.rtc", "--listen", f"127.0.0.1:{TURN_PORT}",
         "--relay-ports", "{}-{}".format(*RELAYS), "--secret-file", str(secret),
         "--realm", "pychat", "--allow-loopback-peers", "--log-level", "ERROR",
         "--max-allocations-per-user", "1000"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def start_coturn(tmp: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["turnserver", "-n", "--listening-ip", "127.0.0.1", "--relay-ip", "127.0.0.1",
         "--listening-port", str(TURN_PORT), "--min-port", str(RELAYS[0]),
         "--max-port", str(RELAYS[1]), "--use-auth-secret", "--static-auth-secret", SECRET,
         "--realm", "pychat", "--no-tls", "--no-dtls", "--allow-loopback-peers", "--no-cli",
         "--pidfile", str(tmp / "coturn.pid"), "--log-file", str(tmp / "coturn.log"),
         "--no-stdout-log"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def run_load(server: str, pid: int, run: str) -> Result:
    args = shlex.split(run)
    streams = int(args[args.index("-m") + 1]) if "-m" in args else 1
    command = [
        "timeout", "300", "turnutils_uclient", *args, "-W", SECRET, "-u", "bench",
        "-e", "127.0.0.1", "-r", str(PEER_PORT), "-p", str(TURN_PORT), "-c", "127.0.0.1",
    ]  # fmt: skip
    cpu_before = cpu_seconds(pid)
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    cpu = cpu_seconds(pid) - cpu_before
    lost = LOST.findall(done.stdout)
    transmit = TRANSMIT.findall(done.stdout)
    sent = SENT.findall(done.stdout)
    if done.returncode != 0 or not sent:
        print(f"{server}: {run}: rc {done.returncode}\n{done.stdout[-1500:]}", file=sys.stderr)
    return Result(
        server, run,
        sent=int(sent[-1][0]) if sent else 0, received=int(sent[-1][1]) if sent else 0,
        lost=int(lost[-1][0]) if lost else -1, cpu_s=cpu,
        seconds=float(transmit[-1]) if transmit else 0.0, streams=streams,
        rc=done.returncode,
    )  # fmt: skip


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(15)


def bench(runs: list[str]) -> list[Result]:
    results: list[Result] = []
    peer = subprocess.Popen(
        ["turnutils_peer", "-L", "127.0.0.1", "-p", str(PEER_PORT)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for name, start in (("pychat", start_pychat), ("coturn", start_coturn)):
            with tempfile.TemporaryDirectory(prefix=f"turn-bench-{name}-") as tmp:
                server = start(Path(tmp))
                try:
                    wait_for_stun(TURN_PORT)
                    for run in runs:
                        results.append(run_load(name, server.pid, run))
                finally:
                    stop(server)
    finally:
        stop(peer)
    return results


def table(results: list[Result]) -> str:
    head = ["server", "uclient run", "msgs sent/recv", "lost", "transmit s", "relayed pkt/s",
            "server CPU s", "CPU µs/pkt", "pkt per CPU s", "% core/stream", "rc"]  # fmt: skip
    rows = [head, *(r.row() for r in results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = [" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", action="append", help="turnutils_uclient load flags (repeat)")
    args = parser.parse_args()
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        print(f"missing {', '.join(missing)}: apt-get install coturn", file=sys.stderr)
        return 2
    results = bench(args.runs or list(DEFAULT_RUNS))
    print(table(results))
    print(f"\n{os.cpu_count()} CPUs; loopback; every packet relayed twice (to the echo peer "
          "and back).\nCPU µs/pkt: server CPU (user+sys) over the run / relayed packets; "
          "% core/stream: server CPU / transmit time / streams (-m).")  # fmt: skip
    return 0 if all(r.rc == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
