"""Measurement phases shared by fanout.py and ingest.py (the orchestrator side)."""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import psutil
from _common import VENV_BIN, ServerProcess, log, pcts, threads_cpu
from _common import cpu_seconds as process_cpu
from _loadgen import worker_main


@dataclass
class PhaseResult:
    name: str
    secs: float
    sends: int
    acks: int  # received during the measured window
    acks_total: int  # including the drain
    deliveries: int  # received during the measured window
    deliveries_total: int  # including the drain after senders stopped
    drain_secs: float
    lat_ms: list[float]  # p50, p95, p99 of delivery latency
    ack_ms: list[float]  # p50, p95, p99 of ack latency
    server_cpu: float  # cores used by the server over the window
    cpu_us_per_delivery: float
    cpu_us_per_ack: float
    clients_cpu: list[float]  # cores used by each load-generator process
    loop_cpu: float  # of server_cpu: the server's main thread (its event loop)
    machine_idle: float  # idle share of all cores
    others_cpu: float  # cores used by everything else on the machine (other work skews figures)
    errors: dict[str, int] = field(default_factory=dict)
    unacked: int = 0
    closed: int = 0

    @property
    def deliveries_per_s(self) -> float:
        return self.deliveries / self.secs if self.secs else 0.0

    @property
    def acks_per_s(self) -> float:
        return self.acks / self.secs if self.secs else 0.0

    def verdict(self) -> str:
        """Which resource limited this phase, and what the load generator cost."""
        per = sum(self.clients_cpu) / self.deliveries * self.secs * 1e6 if self.deliveries else 0
        cost = f"; clients {per:.1f} µs CPU per delivery" if self.deliveries_per_s >= 5000 else ""
        if self.server_cpu >= 0.9:
            why = f"the server (its process at {self.server_cpu:.0%} of a core, one event loop)"
        elif self.machine_idle < 0.1:
            who = "other work on the machine" if self.others_cpu > 0.25 else "the clients"
            why = f"no idle CPU left (mostly {who})"
        elif max(self.clients_cpu) >= 0.9:
            why = "a client process"
        else:
            why = "none on CPU (acks/latency bound, or offered load)"
        return f"limit: {why}{cost}"

    def summary(self) -> str:
        clients = "+".join(f"{c:.0%}" for c in self.clients_cpu)
        s = (
            f"{self.name}: {self.acks_per_s:,.0f} msg/s acked,"
            f" {self.deliveries_per_s:,.0f} deliveries/s, delivery p50/p95/p99"
            f" {self.lat_ms[0]:.1f}/{self.lat_ms[1]:.1f}/{self.lat_ms[2]:.1f} ms,"
            f" ack p50/p99 {self.ack_ms[0]:.1f}/{self.ack_ms[2]:.1f} ms;"
            f" server {self.server_cpu:.0%} of a core, clients {clients},"
            f" others {self.others_cpu:.0%}, machine idle {self.machine_idle:.0%};"
            f" drain {self.drain_secs:.1f} s"
        )
        if self.errors or self.unacked or self.closed:
            s += f"; errors {self.errors} unacked {self.unacked} closed {self.closed}"
        return s


def spread(wanted: int, among: int) -> list[int]:
    """`wanted` socket indices spread evenly over range(among)."""
    wanted = max(1, min(wanted, among))
    return sorted({round(i * among / wanted) for i in range(wanted)})


def by_worker(pool: Pool, items: list[tuple[int, Any]]) -> list[list[Any]]:
    """Route (global socket index, payload) pairs to the worker owning the socket."""
    n = len(pool.conns)
    out: list[list[Any]] = [[] for _ in range(n)]
    for idx, payload in items:
        out[idx % n].append(payload)
    return out


def connect(
    pool: Pool, cookies: list[str | None], concurrency: int = 64
) -> tuple[int, float, Counter[str]]:
    per = by_worker(pool, [(i, (i, c)) for i, c in enumerate(cookies)])
    t0 = time.monotonic()
    res = pool.all(
        "connect", per_worker=[{"specs": p, "concurrency": concurrency} for p in per], timeout=1800
    )
    errors: Counter[str] = Counter()
    for r in res:
        errors.update(dict(r["errors"]))
    return sum(r["ok"] for r in res), time.monotonic() - t0, errors


def run_phase(
    pool: Pool,
    server: ServerProcess,
    name: str,
    start_cmd: str,
    per_worker: list[dict[str, Any]],
    duration: float,
    profile: Path | None = None,
    cpu_pids: Sequence[int] = (),
) -> PhaseResult:
    """Start senders, measure over `duration`, stop, wait for the fan-out to drain, collect.
    The server's CPU is that of `server` or, when given, of all of `cpu_pids` (the nodes
    of a cluster) together."""

    def cpu_seconds(pid: int) -> float:
        return sum(process_cpu(p) for p in cpu_pids) if cpu_pids else process_cpu(pid)

    pool.all("reset")
    spy = _start_py_spy(server.pid, duration, profile) if profile else None
    sys0, th0, c0, m0, t0 = (
        psutil.cpu_times(),
        threads_cpu(server.pid),
        cpu_seconds(server.pid),
        pool.all("mark"),
        time.monotonic(),
    )
    workers = [w for w, kw in enumerate(per_worker) if kw["senders"]]
    for w in workers:
        pool.conns[w].send((start_cmd, per_worker[w]))
    for w in workers:
        pool._recv(w, start_cmd, 60)
    time.sleep(duration)
    m1, c1, th1, sys1, t1 = (
        pool.all("mark"),
        cpu_seconds(server.pid),
        threads_cpu(server.pid),
        psutil.cpu_times(),
        time.monotonic(),
    )
    pool.all("stop_senders", timeout=120)
    drain0, last, stable = time.monotonic(), -1, 0
    while time.monotonic() - drain0 < 30:
        now = sum(m["deliveries"] for m in pool.all("mark"))
        stable = stable + 1 if now == last else 0
        if stable >= 2:
            break
        last = now
        time.sleep(0.25)
    drain = max(0.0, time.monotonic() - drain0 - 0.5)
    res = pool.all("collect", timeout=300)
    if spy is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            spy.wait(duration + 30)
    secs = t1 - t0
    deliveries = sum(b["deliveries"] - a["deliveries"] for a, b in zip(m0, m1, strict=True))
    acks = sum(b["acks"] - a["acks"] for a, b in zip(m0, m1, strict=True))
    lat = [x for r in res for x in r["lat"]]
    ack = [x for r in res for x in r["ack_lat"]]
    errors: Counter[str] = Counter()
    for r in res:
        errors.update(r["errors"])
    busy = (sys1.user + sys1.system + sys1.nice + sys1.irq + sys1.softirq) - (
        sys0.user + sys0.system + sys0.nice + sys0.irq + sys0.softirq
    )
    total = sum(sys1) - sum(sys0)
    cpu = c1 - c0
    return PhaseResult(
        name=name,
        secs=secs,
        sends=sum(r["sends"] for r in res),
        acks=acks,
        acks_total=sum(r["acks"] for r in res),
        deliveries=deliveries,
        deliveries_total=sum(r["deliveries"] for r in res),
        drain_secs=drain,
        lat_ms=pcts(lat),
        ack_ms=pcts(ack),
        server_cpu=cpu / secs,
        cpu_us_per_delivery=cpu / deliveries * 1e6 if deliveries else float("nan"),
        cpu_us_per_ack=cpu / acks * 1e6 if acks else float("nan"),
        clients_cpu=[(b["cpu"] - a["cpu"]) / secs for a, b in zip(m0, m1, strict=True)],
        loop_cpu=(th1.get(server.pid, 0.0) - th0.get(server.pid, 0.0)) / secs,
        machine_idle=1 - busy / total if total > 0 else float("nan"),
        others_cpu=busy / secs
        - cpu / secs
        - sum((b["cpu"] - a["cpu"]) / secs for a, b in zip(m0, m1, strict=True)),
        errors=dict(errors),
        unacked=sum(r["unacked"] for r in res),
        closed=sum(r["closed"] for r in res),
    )


def _start_py_spy(pid: int, duration: float, out: Path) -> subprocess.Popen[bytes] | None:
    exe = shutil.which("py-spy") or str(VENV_BIN / "py-spy")
    if not Path(exe).exists():
        log("  (py-spy not installed: no profile)")
        return None
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        exe,
        "record",
        "-p",
        str(pid),
        "-d",
        str(int(duration)),
        "-r",
        "200",
        "--nonblocking",
        "--threads",
        "-f",
        "raw",
        "-o",
        str(out),
    ]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def print_load_check(targets: list[tuple[str, PhaseResult | None, PhaseResult | None]]) -> None:
    """Per phase: cores used by server, clients and other work, and what limited it."""
    print("\nload check (cores busy during each phase; 2 cores = 200%):")
    for label, *phases in targets:
        for p in phases:
            if p is None:
                continue
            clients = " + ".join(f"{c:.0%}" for c in p.clients_cpu)
            print(
                f"  {label:6} {p.name:10} server {p.server_cpu:4.0%}  clients {clients}"
                f"  others {p.others_cpu:.0%}  idle {p.machine_idle:.0%}"
                f"  drain {p.drain_secs:.1f} s" + (f"  errors {p.errors}" if p.errors else "")
            )
            if p.acks and p.server_cpu:
                # Where the server's CPU goes: its event loop, or its other threads (the
                # database writer, hashing, a decode process is not counted here).
                per = p.secs / p.acks * 1e6
                print(
                    f"  {'':6} {'':10} per ack: event loop {p.loop_cpu * per:.0f} µs,"
                    f" other threads {(p.server_cpu - p.loop_cpu) * per:.0f} µs"
                )
            print(f"  {'':6} {'':10} {p.verdict()}")


def profile_path(stem: Path | None, phase: str) -> Path | None:
    return stem.with_name(f"{stem.name}-{phase}.txt") if stem is not None else None


# Leaf frames that are waits, though py-spy's idle detection counts them as busy.
IDLE_LEAVES = (
    "EpollSelector.select (selectors.py",
    "_connection_worker_thread (aiosqlite/core.py:59)",
)


def summarize_profile(path: Path | None, top: int = 12) -> list[str]:
    """Busy samples per thread, self time per function, inclusive time of Pychat's functions."""
    if path is None or not path.exists():
        return []
    own: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if not count.isdigit() or len(frames) < 2 or frames[-1].startswith(IDLE_LEAVES):
            continue
        n = int(count)
        total += n
        threads[frames[0].split(": ", 1)[-1]] += n
        names = [f.rsplit(":", 1)[0] + ")" if f.endswith(")") else f for f in frames[1:]]
        own[names[-1]] += n
        for f in set(names):
            if "(appliance/" in f and "__main__" not in f:
                incl[f] += n
    if not total:
        return []
    lines = [f"py-spy ({path}): {total} busy samples (waits left out); per thread:"]
    lines += [f"  {n / total:6.1%}  {t}" for t, n in threads.most_common(4)]
    lines += ["self time:"] + [f"  {n / total:6.1%}  {f}" for f, n in own.most_common(top)]
    lines += ["inclusive time of Pychat functions:"]
    lines += [f"  {n / total:6.1%}  {f}" for f, n in incl.most_common(top)]
    return lines


def server_problems(server: ServerProcess) -> list[str]:
    bad = [
        ln
        for ln in server.output
        if any(k in ln for k in ("Traceback", "ERROR", "Error", "exception"))
    ]
    return bad[-8:]


class Pool:
    """The orchestrator's handle on the worker processes (synchronous)."""

    def __init__(
        self, nprocs: int, host: str, port: int, use_uvloop: bool = True, decode: bool = False
    ) -> None:
        ctx = mp.get_context("spawn")
        self.conns: list[Connection] = []
        self.procs: list[Any] = []
        for wid in range(nprocs):
            parent, child = ctx.Pipe()
            p = ctx.Process(
                target=worker_main, args=(child, wid, host, port, use_uvloop, decode), daemon=True
            )
            p.start()
            child.close()
            self.conns.append(parent)
            self.procs.append(p)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def call(self, wid: int, cmd: str, timeout: float = 600.0, **kwargs: Any) -> dict[str, Any]:
        self.conns[wid].send((cmd, kwargs))
        return self._recv(wid, cmd, timeout)

    def _recv(self, wid: int, cmd: str, timeout: float) -> dict[str, Any]:
        if not self.conns[wid].poll(timeout):
            raise TimeoutError(f"worker {wid} did not answer {cmd} in {timeout:.0f} s")
        res: dict[str, Any] = self.conns[wid].recv()
        if "exception" in res:
            raise RuntimeError(f"worker {wid} {cmd}: {res['exception']}")
        return res

    def all(
        self,
        cmd: str,
        per_worker: list[dict[str, Any]] | None = None,
        timeout: float = 600.0,
        **kwargs: Any,
    ) -> list[dict[str, Any]]:
        """Send `cmd` to every worker at once, then gather the replies."""
        for wid, c in enumerate(self.conns):
            c.send((cmd, per_worker[wid] if per_worker is not None else kwargs))
        return [self._recv(wid, cmd, timeout) for wid in range(len(self.conns))]

    def close(self) -> None:
        for c in self.conns:
            with contextlib.suppress(Exception):
                c.send(("quit", {}))
        for p in self.procs:
            p.join(5)
            if p.is_alive():
                p.kill()
                p.join(2)
