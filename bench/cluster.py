"""The event log shared by several nodes (issue 18): appends/s, their latency, delivery to
every node and the CPU it all costs, with 1, 2 and 3 node processes on one PostgreSQL,
woken through Redis; beside, in the same run, the same appends with positions from a
plain sequence (the bare reference: what PostgreSQL does without the commit-order
guarantee, `docs/architecture.md`) and the appliance's own SQLite writer.

Each node (`_cluster_node.py`) runs `--writers` tasks, each writing `--batch` events at a
time, one write after another, for `--seconds`, through the node's writer
(`appliance/cluster/writer.py`: the writes queued meanwhile share a transaction). Figures:
- events/s: events committed per second by all nodes together; commits/s: transactions;
- append p50/p99: from asking the node's writer to the commit's return, in ms;
- delivery lag p50/p99: from just before an append to a node's follower delivering it, in
  ms, over every node (each node delivers every node's events; CLOCK_MONOTONIC);
- node CPU per event: the node processes' CPU while writing, per event written;
- PostgreSQL CPU per event: the server's processes, the same way.

PostgreSQL 15 and Redis come from Debian's packages (scripts/debian-packages test), run in
temporary folders as the tests run them (tests/engines.py), with PostgreSQL's defaults
(fsync on, synchronous_commit on).

    .venv/bin/python bench/cluster.py --nodes 1,2,3 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))
from _common import PYTHON, ROOT, Row, cpu_seconds, log, percentile, print_table

from tests.engines import PostgresServer, RedisServer

NODE = str(Path(__file__).resolve().parent / "_cluster_node.py")


SEQUENCE_SETUP = (
    "CREATE SEQUENCE bench_seq; CREATE TABLE bench_events (seq bigint PRIMARY KEY,"
    " kind text NOT NULL, room_id bigint, user_id bigint, data json NOT NULL,"
    " created_at bigint NOT NULL)"
)


async def fresh_database(pg: PostgresServer, name: str, setup: str | None = None) -> str:
    conn = await asyncpg.connect(pg.url)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name}")
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    url = pg.url.rsplit("/", 1)[0] + "/" + name
    if setup:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(setup)
        finally:
            await conn.close()
    return url


async def run_nodes(
    pg: PostgresServer, redis_url: str, nodes: int, kind: str, options: argparse.Namespace
) -> dict[str, float]:
    setup = SEQUENCE_SETUP if kind == "sequence" else None
    url = await fresh_database(pg, f"bench_{kind}_{nodes}", setup)
    argv = [PYTHON, NODE, "--database", url, "--bus", redis_url,
            "--writers", str(options.writers), "--batch", str(options.batch),
            "--seconds", str(options.seconds), "--log", kind]  # fmt: skip
    procs = [
        await asyncio.create_subprocess_exec(
            *argv,
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=256 << 20,  # the report carries every latency
        )
        for _ in range(nodes)
    ]
    for p in procs:
        assert p.stdout is not None
        assert (await p.stdout.readline()).strip() == b"ready"
    pg_cpu = cpu_seconds(pg.postmaster_pid())
    started = time.monotonic()
    for p in procs:
        assert p.stdin is not None
        p.stdin.write(b"go\n")
    for p in procs:
        assert p.stdout is not None
        assert (await p.stdout.readline()).strip() == b"written"
    elapsed = time.monotonic() - started
    pg_cpu = cpu_seconds(pg.postmaster_pid()) - pg_cpu
    conn = await asyncpg.connect(url)
    try:
        table = "events" if kind == "ordered" else "bench_events"
        head = int(await conn.fetchval(f"SELECT count(*) FROM {table}"))
    finally:
        await conn.close()
    reports = []
    for p in procs:
        assert p.stdin is not None and p.stdout is not None
        p.stdin.write(f"{head}\n".encode())
        reports.append(json.loads(await p.stdout.readline()))
        await p.wait()
    events = sum(r["events"] for r in reports)
    appends = sorted(a for r in reports for a in r["appends_ms"])
    lags = sorted(lag for r in reports for lag in r["lags_ms"])
    if kind == "ordered":
        assert all(r["delivered"] == head for r in reports), "a node missed events"
    return {
        "events/s": events / elapsed,
        "commits/s": sum(r["commits"] for r in reports) / elapsed,
        "append p50": percentile(appends, 50),
        "append p99": percentile(appends, 99),
        "lag p50": percentile(lags, 50) if lags else float("nan"),
        "lag p99": percentile(lags, 99) if lags else float("nan"),
        "node us/event": 1e6 * sum(r["written_cpu_s"] for r in reports) / events,
        "pg us/event": 1e6 * pg_cpu / events,
    }


async def run_sqlite(options: argparse.Namespace, writers: int) -> dict[str, float]:
    """The appliance's writer (`appliance.db.SqliteDatabase`, synchronous=FULL, group commit):
    the same number of concurrent appends, each one event in its own `write`."""
    from appliance.db import SqliteDatabase, Tx

    folder = Path(tempfile.mkdtemp(prefix="pychat-bench-sqlite-"))
    db = SqliteDatabase(folder / "pychat.sqlite3")
    await db.open()
    appends: list[float] = []
    cpu = psutil.Process().cpu_times()
    deadline = time.monotonic() + options.seconds
    started = time.monotonic()

    async def writer(w: int) -> None:
        while time.monotonic() < deadline:
            t0 = time.monotonic_ns()

            async def job(tx: Tx) -> None:
                for _ in range(options.batch):
                    await tx.emit("bench.event", w, {"body": "a message of ordinary length"}, 0)

            await db.write(job)
            appends.append((time.monotonic_ns() - t0) / 1e6)

    await asyncio.gather(*(writer(w) for w in range(writers)))
    elapsed = time.monotonic() - started
    after = psutil.Process().cpu_times()
    await db.close()
    shutil.rmtree(folder, ignore_errors=True)
    appends.sort()
    events = len(appends) * options.batch
    return {
        "events/s": events / elapsed,
        "append p50": percentile(appends, 50),
        "append p99": percentile(appends, 99),
        "node us/event": 1e6 * (after.user + after.system - cpu.user - cpu.system) / events,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", default="1,2,3", help="node counts to run, comma-separated")
    parser.add_argument("--writers", type=int, default=8, help="per node")
    parser.add_argument("--batch", type=int, default=1, help="events per transaction")
    parser.add_argument("--seconds", type=float, default=10.0)
    options = parser.parse_args()
    counts = [int(n) for n in options.nodes.split(",")]

    with PostgresServer() as pg, RedisServer() as redis:
        for nodes in counts:
            log(f"{nodes} node(s) x {options.writers} writers, {options.batch} event(s) a commit")
            ordered = await run_nodes(pg, redis.url, nodes, "ordered", options)
            bare = await run_nodes(pg, redis.url, nodes, "sequence", options)
            rows = [
                Row(metric, ordered[metric], bare.get(metric), unit)
                for metric, unit in (
                    ("events/s", ""), ("commits/s", ""), ("append p50", "ms"),
                    ("append p99", "ms"), ("lag p50", "ms"), ("lag p99", "ms"),
                    ("node us/event", "us"), ("pg us/event", "us"),
                )
            ]  # fmt: skip
            print_table(
                f"{nodes} node(s) on PostgreSQL: the ordered log (pychat) beside positions"
                " from a plain sequence (bare)",
                rows,
            )
        sqlite = await run_sqlite(options, options.writers * max(counts))
        print_table(
            f"the appliance's SQLite writer, {options.writers * max(counts)} concurrent"
            " appends in one process (pychat) beside the ordered log on PostgreSQL with"
            f" {max(counts)} node(s) (bare column)",
            [
                Row(metric, sqlite[metric], ordered.get(metric), unit)
                for metric, unit in (
                    ("events/s", ""),
                    ("append p50", "ms"),
                    ("append p99", "ms"),
                    ("node us/event", "us"),
                )
            ],
        )


if __name__ == "__main__":
    asyncio.run(main())
