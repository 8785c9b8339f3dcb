"""Connections held open by an attacker: does the server stay up, answer, and keep its log?

Starts a real `pychat serve` on a fresh data dir with RLIMIT_NOFILE set to `--nofile`, then
from `--attackers` loopback addresses (127.0.0.2, 127.0.0.3, ...) opens connections that
send half a request line and never finish it, up to `--per-attacker` at once per address,
opening a new one whenever the server closes one (the attacker holds as many as it can).
Every second, from 127.0.0.1: `GET /api/health` (5 s timeout), the server's open file
descriptors and its log size. Prints the figures at the end.

    .venv/bin/python bench/connection_flood.py                    # 4 x 2000 for 30 s
    .venv/bin/python bench/connection_flood.py --duration 10 --per-attacker 500

Run it in a network namespace of its own so it does not disturb the machine:
    unshare -rn sh -c 'ip link set lo up && exec .venv/bin/python bench/connection_flood.py'
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import psutil

PASSWORD = "bench-password-1"
HALF_REQUEST = b"GET /api/health HTTP/1.1\r\nHost: pychat\r\nUser-"


@dataclass
class Attack:
    held: int = 0
    peak_held: int = 0
    opened: int = 0
    closed_by_server: int = 0
    connect_failures: int = 0


@dataclass
class Samples:
    health_ms: list[float] = field(default_factory=list)
    health_failed: int = 0
    fds: list[int] = field(default_factory=list)
    rss: list[int] = field(default_factory=list)


def start_server(
    data: Path, log_path: Path, nofile: int, env: dict[str, str]
) -> tuple[subprocess.Popen[bytes], str]:
    base = [sys.executable, "-m", "appliance"]
    init = subprocess.run(
        [*base, "init", "--org", "Bench", "--admin", "admin", "--password-stdin",
         "--data", str(data)],
        input=PASSWORD + "\n", capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    if init.returncode != 0:
        raise SystemExit(init.stderr)

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    log = log_path.open("wb")
    proc = subprocess.Popen(
        [*base, "serve", "--data", str(data), "--listen", "127.0.0.1:0"],
        stdout=log, stderr=subprocess.STDOUT, env=env, preexec_fn=limit,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for line in log_path.read_text(errors="replace").splitlines():
            if "listening on http://" in line:
                return proc, line.split("listening on ", 1)[1].strip()
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("server did not start:\n" + log_path.read_text(errors="replace"))


async def hold_one(host: str, port: int, source: str, attack: Attack, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection(host, port, local_addr=(source, 0))
        except OSError:
            attack.connect_failures += 1
            await asyncio.sleep(0.2)
            continue
        attack.opened += 1
        attack.held += 1
        attack.peak_held = max(attack.peak_held, attack.held)
        try:
            writer.write(HALF_REQUEST)
            closed = asyncio.create_task(reader.read())  # returns at EOF: the server closed it
            stopped = asyncio.create_task(stop.wait())
            await asyncio.wait({closed, stopped}, return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
            if closed.done():
                attack.closed_by_server += 1
            else:
                closed.cancel()
        except OSError:
            attack.closed_by_server += 1
        finally:
            attack.held -= 1
            writer.transport.abort()
        await asyncio.sleep(0.05)  # then open a new one, as an attacker would


async def observe(url: str, pid: int, samples: Samples, stop: asyncio.Event) -> None:
    proc = psutil.Process(pid)
    timeout = aiohttp.ClientTimeout(total=5)
    connector = aiohttp.TCPConnector(local_addr=("127.0.0.1", 0), force_close=True)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as http:
        while not stop.is_set():
            with contextlib.suppress(psutil.Error):
                samples.fds.append(proc.num_fds())
                samples.rss.append(proc.memory_info().rss)
            began = time.monotonic()
            try:
                async with http.get(url + "/api/health") as resp:
                    await resp.read()
                    ok = resp.status == 200
            except (aiohttp.ClientError, TimeoutError):
                ok = False
            if ok:
                samples.health_ms.append((time.monotonic() - began) * 1000)
            else:
                samples.health_failed += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(0.0, 1.0 - (time.monotonic() - began)))


async def run(args: argparse.Namespace, url: str, pid: int) -> tuple[list[Attack], Samples]:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    stop = asyncio.Event()
    attacks = [Attack() for _ in range(args.attackers)]
    samples = Samples()
    tasks = [asyncio.create_task(observe(url, pid, samples, stop))]
    for i, attack in enumerate(attacks):
        source = f"127.0.0.{i + 2}"
        for _ in range(args.per_attacker):
            tasks.append(asyncio.create_task(hold_one(host, int(port), source, attack, stop)))
    await asyncio.sleep(args.duration)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    return attacks, samples


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--nofile", type=int, default=8192, help="the server's RLIMIT_NOFILE")
    ap.add_argument("--attackers", type=int, default=4, help="attacking addresses")
    ap.add_argument("--per-attacker", type=int, default=2000, help="connections per address")
    ap.add_argument("--duration", type=float, default=30.0, help="seconds of attack")
    ap.add_argument("--keep-log", help="write the server log here")
    ap.add_argument("--env", action="append", default=[], help="KEY=VALUE for the server")
    args = ap.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    import os

    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYCHAT_AUTH_SCRYPT_N": "1024"}
    env.update(kv.split("=", 1) for kv in args.env)
    with tempfile.TemporaryDirectory(prefix="pychat-flood-") as tmp:
        data = Path(tmp) / "data"
        log_path = Path(tmp) / "server.log"
        proc, url = start_server(data, log_path, args.nofile, env)
        try:
            log_before = log_path.stat().st_size
            fds_before = psutil.Process(proc.pid).num_fds()
            rss_before = psutil.Process(proc.pid).memory_info().rss
            attacks, samples = asyncio.run(run(args, url, proc.pid))
            log_grew = log_path.stat().st_size - log_before
            alive = proc.poll() is None
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        lines = log_path.read_text(errors="replace").splitlines()
        if args.keep_log:
            Path(args.keep_log).write_text("\n".join(lines))
    checks = len(samples.health_ms) + samples.health_failed
    print(f"server RLIMIT_NOFILE {args.nofile}; {args.attackers} attackers x"
          f" {args.per_attacker} half-request connections for {args.duration:.0f} s")  # fmt: skip
    print(f"  server fds: idle {fds_before}, peak {max(samples.fds, default=0)}")
    print(f"  server RSS: idle {rss_before / 2**20:.1f} MiB,"
          f" peak {max(samples.rss, default=0) / 2**20:.1f} MiB")  # fmt: skip
    for i, a in enumerate(attacks):
        print(f"  127.0.0.{i + 2}: peak held {a.peak_held}, opened {a.opened}, closed by server"
              f" {a.closed_by_server}, connect failures {a.connect_failures}")  # fmt: skip
    ok = samples.health_ms
    p50 = statistics.median(ok) if ok else float("nan")
    print(f"  /api/health from 127.0.0.1: {len(ok)}/{checks} answered, p50 {p50:.1f} ms,"
          f" max {max(ok, default=float('nan')):.1f} ms")  # fmt: skip
    print(f"  server log grew {log_grew / 1e6:.2f} MB ({len(lines)} lines);"
          f" server {'alive' if alive else 'DEAD'}")  # fmt: skip
    for line in lines[-3:]:
        print(f"    | {line[:160]}")


if __name__ == "__main__":
    main()
