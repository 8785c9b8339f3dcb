"""A node of the cluster tests, as its own process: writers and followers on one EventRelay.

`python -m tests.cluster.node --database URL --bus URL --name N ...` prints JSON lines:
  {"ready": true}                 listening on the bus, followers running
  {"acked": [seq, ...]}           a transaction committed (printed once its commit returned)
  {"written": true}               every writer finished
  {"follower": i, "seqs": [...], "digest": "..."}   after `head H` came on stdin and each
                                  follower delivered up to H (digest: sha256 over seq and data)
Stdin: `go` starts the writers; `head H` ends the run. Each writer's transaction does some
work first and waits a little while it holds the log's head, so transactions of different
nodes overlap and queue on it (the worst case); with `--writer` the writers go through the
node's `LogWriter` instead, as a node's requests would (group commits).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import sys

from appliance.cluster import event_log
from appliance.cluster.event_log import Draft
from appliance.cluster.postgres import connect_pool
from appliance.cluster.relay import EventRelay
from appliance.cluster.writer import LogWriter, WriterTx
from appliance.db import Event


def say(**fields: object) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def digest(events: list[tuple[int, str]]) -> str:
    h = hashlib.sha256()
    for seq, data in events:
        h.update(f"{seq}:{data}\n".encode())
    return h.hexdigest()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", required=True)
    parser.add_argument("--bus", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--transactions", type=int, default=50, help="per writer")
    parser.add_argument("--followers", type=int, default=2)
    parser.add_argument("--poll", type=float, default=600.0, help="the followers' timer, s")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--writer", action="store_true", help="through the node's LogWriter (group commits)"
    )
    options = parser.parse_args()
    rng = random.Random(f"{options.seed}:{options.name}")

    pool = await connect_pool(options.database, max_size=options.writers + options.followers + 2)
    delivered: list[list[Event]] = [[] for _ in range(options.followers)]
    relays = [
        EventRelay(pool, options.bus, delivered[i].extend, poll_interval_s=options.poll)
        for i in range(options.followers)
    ]
    for relay in relays:
        await relay.start(after=0)
    for relay in relays:
        assert relay.bus is not None
        await relay.bus.subscribed.wait()
    say(ready=True)
    stdin = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    assert (await stdin.readline()).strip() == b"go"

    async def announce(events: list[Event]) -> None:
        await relays[0].committed(events)

    log_writer = LogWriter(pool, on_commit=announce) if options.writer else None
    if log_writer:
        log_writer.start()

    async def writer(w: int) -> None:
        for t in range(options.transactions):
            drafts = [
                Draft(
                    "test.event",
                    w,
                    None,
                    json.dumps({"node": options.name, "writer": w, "tx": t, "k": k}),
                    t,
                )
                for k in range(rng.randint(1, 3))
            ]
            if log_writer:

                async def job(tx: WriterTx, drafts: list[Draft] = drafts) -> None:
                    await tx.conn.execute("SELECT pg_sleep($1)", rng.uniform(0, 0.004))
                    for draft in drafts:
                        tx.emit(draft)

                _, events = await log_writer.write(job)
            else:
                async with pool.acquire() as conn, conn.transaction():
                    await conn.execute("SELECT pg_sleep($1)", rng.uniform(0, 0.004))
                    events = await event_log.emit_many(conn, drafts)
                    await asyncio.sleep(rng.uniform(0, 0.003))  # holding the head
                await relays[w % len(relays)].committed(events)
            say(acked=[e.seq for e in events])

    await asyncio.gather(*(writer(w) for w in range(options.writers)))
    if log_writer:
        await log_writer.close()
    say(written=True)
    line = (await stdin.readline()).split()
    assert line[0] == b"head", line
    head = int(line[1])
    for i, relay in enumerate(relays):
        assert relay.follower is not None
        await asyncio.wait_for(relay.follower.wait_for(head), 60)
        say(
            follower=i,
            seqs=[e.seq for e in delivered[i]],
            digest=digest([(e.seq, e.data_json) for e in delivered[i]]),
        )
    for relay in relays:
        await relay.close()
    await pool.close()


if __name__ == "__main__":
    asyncio.run(main())
