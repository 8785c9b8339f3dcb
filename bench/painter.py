"""Painter: acknowledged ops/s on one board and the op's time to the other viewers.

Starts a real `pychat serve` (synchronous=FULL) on a fresh data dir, puts DRAWERS sockets
and VIEWERS sockets on one room's board, and has each drawer add strokes of POINTS points
one after another (the next after the previous one's ack, as the app does while drawing
fast) for DURATION seconds. Ops of one board are stored one after another, so this is the
per-board ceiling; other boards share only the group-committing writer.

    .venv/bin/python bench/painter.py --drawers 4 --viewers 8 --duration 5
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.client import Client, Socket
from tests.conftest import TEST_ENV, USER_PASSWORD
from tests.server import ADMIN_PASSWORD, Server, init_data

RELAXED = {
    **TEST_ENV,
    "PYCHAT_PAINTER_OPS_PER_SECOND": "1000000",
    "PYCHAT_PAINTER_OPS_BURST": "1000000",
}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def run(args: argparse.Namespace, url: str) -> None:
    admin = await Client(url).login("admin", ADMIN_PASSWORD)
    people: list[Client] = []
    for n in range(args.drawers + args.viewers):
        name = f"p{n}{uuid.uuid4().hex[:6]}"
        await admin.post(
            "/api/admin/users", {"username": name, "password": USER_PASSWORD}, expect=201
        )
        people.append(await Client(url).login(name, USER_PASSWORD))
    _status, body = await admin.call(
        "POST",
        "/api/rooms",
        {"kind": "private", "name": "bench", "members": [p.id for p in people]},
    )
    room = body["room"]["id"]
    socks: list[Socket] = [await p.connect() for p in people]
    for sock in socks:
        await sock.ok({"type": "paint.open", "room": room})
    drawers, viewers = socks[: args.drawers], socks[args.drawers :]
    sent_at: dict[str, float] = {}
    acks: list[float] = []
    deliveries: list[float] = []
    stop = time.monotonic() + args.duration
    points = [float(i % 997) for i in range(args.points * 2)]

    async def draw(sock: Socket) -> None:
        while time.monotonic() < stop:
            op_id = uuid.uuid4().hex
            op = {"id": op_id, "kind": "stroke", "color": "#223344", "size": 4, "points": points}
            start = time.monotonic()
            sent_at[op_id] = start
            await sock.ok({"type": "paint.op", "room": room, "op": op})
            acks.append(time.monotonic() - start)

    async def watch(sock: Socket) -> None:
        while True:
            frame = await sock.wait_for(lambda f: f.get("type") == "paint.op", timeout=30)
            deliveries.append(time.monotonic() - sent_at[frame["op"]["id"]])

    watchers = [asyncio.create_task(watch(v)) for v in viewers]
    began = time.monotonic()
    await asyncio.gather(*(draw(d) for d in drawers))
    elapsed = time.monotonic() - began
    for task in watchers:
        task.cancel()
    print(f"{args.drawers} drawers, {args.viewers} viewers, strokes of {args.points} points")
    print(f"acknowledged ops/s: {len(acks) / elapsed:.0f} ({len(acks)} in {elapsed:.1f} s)")
    print(
        f"ack latency ms: p50 {1000 * statistics.median(acks):.1f}"
        f"  p99 {1000 * pct(acks, 0.99):.1f}"
    )
    if deliveries:
        print(
            f"to viewers ms: p50 {1000 * statistics.median(deliveries):.1f}"
            f"  p99 {1000 * pct(deliveries, 0.99):.1f} ({len(deliveries)} deliveries)"
        )
    for client in [admin, *people]:
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--drawers", type=int, default=4)
    parser.add_argument("--viewers", type=int, default=8)
    parser.add_argument("--points", type=int, default=100)
    parser.add_argument("--duration", type=float, default=5.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        init_data(data)
        server = Server(data, env=RELAXED).start()
        try:
            asyncio.run(run(args, server.url))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
