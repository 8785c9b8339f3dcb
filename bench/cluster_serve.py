#!/usr/bin/env python3
"""The real server on several nodes (issue 18): `pychat serve` on PostgreSQL and Redis with
1, 2 and 3 nodes behind HAProxy, beside one node on the appliance's SQLite under exactly
the same load through the same HAProxy, in one run.

The load is fanout.py's (bench/_phases.py): `--room-size` members of one channel, each
with one WebSocket (cookies of a prepared data folder, moved to PostgreSQL for the nodes
with `pychat migrate`), HAProxy spreading the sockets round-robin over the nodes; then a
steady phase (`--rate` messages a second into the room) and a saturated one (`--senders`
senders, `--window` messages in flight each, as fast as acknowledgements come). Figures:
- acked msgs/s: durable messages a second at saturation (each acknowledged after commit);
- deliveries/s: messages received by the members' sockets, every node's together;
- delivery p50/p99: from the send to a member receiving it (ms), steady and saturated;
- nodes CPU/delivery: the `pychat serve` processes' CPU per delivery (µs);
- engines CPU/delivery: PostgreSQL's, Redis's and HAProxy's together, the same way.
On one machine the nodes share its cores with PostgreSQL, Redis, HAProxy and the load
generator: the figures say what a node costs, not how a cluster of machines scales.

    .venv/bin/python bench/cluster_serve.py --nodes 1,2,3 --room-size 200 --duration 10
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import psutil
from redis import Redis

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))
from _common import (
    PYCHAT,
    RELAXED_ENV,
    Row,
    ServerProcess,
    cpu_seconds,
    log,
    print_table,
    raise_nofile,
)
from _phases import PhaseResult, Pool, by_worker, connect, run_phase, spread
from _provision import copy_template, prepared_fanout
from cluster import fresh_database

from tests.engines import HAProxy, PostgresServer, RedisServer


def engines_cpu(pg: PostgresServer | None) -> float:
    """PostgreSQL's, Redis's and HAProxy's CPU seconds so far."""
    total = cpu_seconds(pg.postmaster_pid()) if pg is not None else 0.0
    for child in psutil.Process().children(recursive=True):
        try:
            if child.name() in ("redis-server", "haproxy"):
                times = child.cpu_times()
                total += times.user + times.system
        except psutil.Error:
            continue
    return total


def start_nodes(data: Path, count: int, extra: list[str]) -> list[ServerProcess]:
    argv = [PYCHAT, "serve", "--data", str(data), "--listen", "127.0.0.1:0", *extra]
    return [ServerProcess(argv, env=RELAXED_ENV, name=f"node{i}").start() for i in range(count)]


def measure(
    name: str,
    nodes: list[ServerProcess],
    pg: PostgresServer | None,
    cookies: list[str],
    room: int,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Both phases through HAProxy in front of `nodes`."""
    with HAProxy([n.port for n in nodes]) as balancer:
        host, port = "127.0.0.1", balancer.port
        pool = Pool(args.procs, host, port, decode=True)
        try:
            ok, secs, errors = connect(pool, cookies)
            log(f"{name}: {ok} of {len(cookies)} sockets in {secs:.1f} s {dict(errors) or ''}")
            time.sleep(1.0)
            pids = [n.pid for n in nodes]
            pad = "x" * 40
            senders = spread(min(20, len(cookies)), len(cookies))
            items: list[tuple[int, Any]] = [
                (i, (i, k / args.rate, room)) for k, i in enumerate(senders)
            ]
            per = [
                {"senders": s, "rate": args.rate / len(senders), "duration": args.duration,
                 "pad": pad}
                for s in by_worker(pool, items)
            ]  # fmt: skip
            e0 = engines_cpu(pg)
            steady = run_phase(
                pool, nodes[0], "steady", "start_rate", per, args.duration, cpu_pids=pids
            )
            steady_engines = engines_cpu(pg) - e0
            log(f"{name}: {steady.summary()}")
            sat_senders = spread(args.senders, len(cookies))
            items = [(i, (i, room)) for i in sat_senders]
            per = [
                {"senders": s, "window": args.window, "duration": args.duration, "pad": pad}
                for s in by_worker(pool, items)
            ]
            e0 = engines_cpu(pg)
            sat = run_phase(
                pool, nodes[0], "saturation", "start_window", per, args.duration, cpu_pids=pids
            )
            sat_engines = engines_cpu(pg) - e0
            log(f"{name}: {sat.summary()}")
        finally:
            pool.close()
    return {
        "steady": steady,
        "sat": sat,
        "steady_engines_us": _per_delivery(steady_engines, steady),
        "sat_engines_us": _per_delivery(sat_engines, sat),
    }


def _per_delivery(seconds: float, phase: PhaseResult) -> float:
    # Engines' CPU is read around the phase, its drain included: per delivery of it all.
    return seconds / phase.deliveries_total * 1e6 if phase.deliveries_total else float("nan")


def stop(nodes: list[ServerProcess]) -> None:
    for node in nodes:
        node.stop()


def on_sqlite(prepared: Path, meta: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    data = copy_template(prepared)
    nodes = start_nodes(data, 1, [])
    try:
        return measure("sqlite", nodes, None, cookies_of(meta, args), meta["room"], args)
    finally:
        stop(nodes)
        shutil.rmtree(data.parent, ignore_errors=True)


def on_postgresql(
    prepared: Path,
    meta: dict[str, Any],
    count: int,
    pg: PostgresServer,
    bus: RedisServer,
    args: argparse.Namespace,
) -> dict[str, Any]:
    data = copy_template(prepared)
    url = asyncio.run(fresh_database(pg, f"bench_nodes_{count}"))
    moved = subprocess.run(
        [PYCHAT, "migrate", "--data", str(data), "--to", url],
        capture_output=True, text=True, env={**os.environ, **RELAXED_ENV}, check=False,
    )  # fmt: skip
    if moved.returncode != 0:
        raise SystemExit(f"pychat migrate failed:\n{moved.stdout}{moved.stderr}")
    with Redis.from_url(bus.url) as client:
        client.flushall()  # the run before's node numbers, presence and calls
    nodes = start_nodes(data, count, ["--database", url, "--bus", bus.url])
    try:
        name = f"{count} node{'s' if count > 1 else ''}"
        return measure(name, nodes, pg, cookies_of(meta, args), meta["room"], args)
    finally:
        stop(nodes)
        shutil.rmtree(data.parent, ignore_errors=True)


def cookies_of(meta: dict[str, Any], args: argparse.Namespace) -> list[str]:
    return [str(a["cookie"]) for a in meta["users"][: args.room_size]]


def report(runs: dict[str, dict[str, Any]], args: argparse.Namespace) -> None:
    base = runs["sqlite"]
    for name, run in runs.items():
        if name == "sqlite":
            continue
        s, t, bs, bt = run["steady"], run["sat"], base["steady"], base["sat"]
        rows = [
            Row("acked msgs/s (saturated)", t.acks_per_s, bt.acks_per_s),
            Row("deliveries/s (saturated)", t.deliveries_per_s, bt.deliveries_per_s),
            Row("delivery p50 (saturated)", t.lat_ms[0], bt.lat_ms[0], "ms"),
            Row("delivery p99 (saturated)", t.lat_ms[2], bt.lat_ms[2], "ms"),
            Row("nodes CPU/delivery (saturated)", t.cpu_us_per_delivery,
                bt.cpu_us_per_delivery, "µs"),
            Row("engines CPU/delivery (saturated)", run["sat_engines_us"],
                base["sat_engines_us"], "µs"),
            Row("delivery p50 (steady)", s.lat_ms[0], bs.lat_ms[0], "ms"),
            Row("delivery p99 (steady)", s.lat_ms[2], bs.lat_ms[2], "ms"),
            Row("nodes CPU/delivery (steady)", s.cpu_us_per_delivery,
                bs.cpu_us_per_delivery, "µs"),
        ]  # fmt: skip
        print_table(
            f"{name} on PostgreSQL + Redis (pychat) beside one node on SQLite (bare column),"
            f" both behind HAProxy: {args.room_size} members, {args.rate:g} msg/s steady,"
            f" {args.senders} senders x {args.window} saturated, {args.duration:g} s phases",
            rows,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", default="1,2,3", help="node counts, comma-separated")
    parser.add_argument("--room-size", type=int, default=200)
    parser.add_argument("--rate", type=float, default=20.0, help="steady msgs/s into the room")
    parser.add_argument("--senders", type=int, default=20)
    parser.add_argument("--window", type=int, default=4)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--procs", type=int, default=2, help="load generator processes")
    args = parser.parse_args()
    raise_nofile()
    prepared, meta = prepared_fanout(args.room_size, args.room_size)
    runs: dict[str, dict[str, Any]] = {"sqlite": on_sqlite(prepared, meta, args)}
    with ExitStack() as stack:
        pg = stack.enter_context(PostgresServer())
        bus = stack.enter_context(RedisServer())
        for count in (int(n) for n in args.nodes.split(",")):
            runs[f"{count}"] = on_postgresql(prepared, meta, count, pg, bus, args)
    report({k if k == "sqlite" else f"{k} node(s)": v for k, v in runs.items()}, args)


if __name__ == "__main__":
    main()
