"""One node of `cluster.py`, as a process of its own: writers appending to the event log for
a while, and (for the ordered log) a relay delivering every node's events to it.

Stdin: a line to start writing, then the log's head once every node has written. Prints
`ready`, `written`, then one JSON line: commits, events, append latencies (ms), delivery lags (ms:
from just before the append to the follower's delivery, across processes with
CLOCK_MONOTONIC), delivered events and the process's CPU seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from appliance.cluster import event_log
from appliance.cluster.event_log import Draft
from appliance.cluster.postgres import Connection, connect_pool
from appliance.cluster.relay import EventRelay
from appliance.cluster.writer import LogWriter, WriterTx
from appliance.db import Event

# The reference: positions from a plain sequence, as a naive port would take them, in the
# same transactions. As fast as PostgreSQL appends, and wrong (tests/cluster/test_event_log.py):
# it has no follower, since what it would deliver has no order to keep.
# Its table (made by cluster.py before the nodes start, as SEQUENCE_SETUP there says):
# bench_events, the log's columns, and the sequence bench_seq.
SEQUENCE_APPEND = (
    "INSERT INTO bench_events SELECT nextval('bench_seq'), d.* FROM unnest($1::text[],"
    " $2::bigint[], $3::bigint[], $4::json[], $5::bigint[]) AS d RETURNING seq"
)


async def sequence_append(conn: Connection, drafts: Sequence[Draft]) -> list[Event]:
    if not drafts:
        return []
    rows = await conn.fetch(SEQUENCE_APPEND, *zip(*drafts, strict=True))
    return [Event(r[0], *d) for r, d in zip(rows, drafts, strict=True)]


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", required=True)
    parser.add_argument("--bus", required=True)
    parser.add_argument("--writers", type=int, required=True)
    parser.add_argument("--batch", type=int, required=True, help="events per write")
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--log", choices=("ordered", "sequence"), required=True)
    options = parser.parse_args()

    pool = await connect_pool(options.database, max_size=options.writers + 2)
    lags: list[float] = []
    delivered = 0

    def deliver(events: list[Event]) -> None:
        nonlocal delivered
        now = time.monotonic_ns()
        delivered += len(events)
        lags.extend((now - e.created_at) / 1e6 for e in events)

    relay = EventRelay(pool, options.bus, deliver) if options.log == "ordered" else None
    if relay:
        await relay.start()
        assert relay.bus is not None
        await relay.bus.subscribed.wait()
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)

    async def no_hold(conn: Connection) -> None:  # positions from a sequence: no head
        return None

    appends: list[float] = []
    commits = 0

    async def announce(events: list[Event]) -> None:
        nonlocal commits
        commits += 1
        if relay:
            await relay.committed(events)

    log_writer = LogWriter(
        pool,
        on_commit=announce,
        append=event_log.emit_many if relay else sequence_append,
        begin=event_log.hold_head if relay else no_hold,
    )
    log_writer.start()
    cpu_before = cpu_s()
    deadline = time.monotonic() + options.seconds
    body = '{"body":"a message of ordinary length"}'

    async def writer(w: int) -> None:
        while time.monotonic() < deadline:
            started = time.monotonic_ns()

            async def job(tx: WriterTx, started: int = started) -> None:
                for _ in range(options.batch):
                    tx.emit(Draft("bench.event", w, None, body, started))

            await log_writer.write(job)
            appends.append((time.monotonic_ns() - started) / 1e6)

    await asyncio.gather(*(writer(w) for w in range(options.writers)))
    written_cpu = cpu_s() - cpu_before
    await log_writer.close()
    sys.stdout.write("written\n")
    sys.stdout.flush()
    # Then the log's head once every node has written: delivered up to it, the node reports.
    head = int(await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline))
    if relay:
        assert relay.follower is not None
        await asyncio.wait_for(relay.follower.wait_for(head), 120)
        await relay.close()
    await pool.close()
    report = {
        "commits": commits,
        "events": len(appends) * options.batch,
        "appends_ms": appends,
        "lags_ms": lags,
        "delivered": delivered,
        "cpu_s": cpu_s() - cpu_before,
        "written_cpu_s": written_cpu,
    }
    sys.stdout.write(json.dumps(report) + "\n")


if __name__ == "__main__":
    asyncio.run(main())
