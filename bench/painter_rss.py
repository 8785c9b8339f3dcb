"""Memory when one user pours pictures onto many drawing boards (issue 13, item 6).

Starts a real `pychat serve` on a fresh data dir; its admin makes `--boards` rooms, opens
their boards while they are empty (4 a socket), then adds 45 KB pictures to them all, in
parallel, until `--target` bytes were sent or every board refuses (`too_large`). Samples
the server's RSS every 20 ms with psutil. Prints what was accepted and refused, and RSS
idle, at its peak and at the end. Per-socket op rates are relaxed so the run is short.

    .venv/bin/python bench/painter_rss.py                  # 32 boards, 256 MiB sent
    .venv/bin/python bench/painter_rss.py --boards 8 --target 64M
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import psutil
from upload_rss import PASSWORD, RssSampler, parse_size, start_server

ROOT = Path(__file__).resolve().parent.parent
PICTURE = "data:image/png;base64," + "QUJD" * 11_250  # 45,022 characters
BOARDS_PER_SOCKET = 4
RELAXED = {
    "PYCHAT_AUTH_SCRYPT_N": "1024",
    "PYCHAT_PAINTER_OPS_PER_SECOND": "100000",
    "PYCHAT_PAINTER_OPS_BURST": "100000",
    "PYCHAT_LIMITS_FRAMES_PER_SECOND": "100000",
    "PYCHAT_LIMITS_FRAMES_BURST": "100000",
    "PYCHAT_LIMITS_ROOM_CREATES_BURST": "100000",
}


class Board:
    """One socket's requests, answered in order of their `req`."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.reqs = itertools.count(1)
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                frame = json.loads(msg.data)
                fut = self.waiting.pop(frame.get("req") or "", None)
                if fut is not None and not fut.done():
                    fut.set_result(frame)

    async def request(self, frame: dict[str, Any]) -> dict[str, Any]:
        req = f"r{next(self.reqs)}"
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.waiting[req] = fut
        await self.ws.send_str(json.dumps({**frame, "req": req}))
        return await asyncio.wait_for(fut, 60)


async def pour(
    sock: Board, room: int, budget: list[int], counts: dict[str, int], errors: set[str]
) -> None:
    """Pictures onto one board until the shared budget is spent or the board refuses."""
    for n in itertools.count():
        if budget[0] <= 0:
            return
        budget[0] -= len(PICTURE)
        op = {"id": f"p{room}-{n}", "kind": "image", "points": [0, 0, 9, 9], "src": PICTURE}
        reply = await sock.request({"type": "paint.op", "room": room, "op": op})
        if reply.get("ok"):
            counts["accepted"] += 1
            continue
        counts["refused"] += 1
        errors.add(f"{reply['error']['code']}: {reply['error']['message']}")
        return


async def run(url: str, pid: int, boards: int, target: int) -> None:
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        login = {"username": "admin", "password": PASSWORD}
        async with http.post(url + "/api/auth/login", json=login) as r:
            assert r.status == 200, await r.text()
        rooms = []
        for n in range(boards):
            body = {"kind": "private", "name": f"board {n}"}
            async with http.post(url + "/api/rooms", json=body) as r:
                assert r.status == 201, await r.text()
                rooms.append(int((await r.json())["room"]["id"]))
        sockets: list[tuple[Board, int]] = []
        for start in range(0, boards, BOARDS_PER_SOCKET):
            sock = Board(await http.ws_connect(url + "/api/ws", max_msg_size=1 << 24))
            assert (await sock.request({"type": "hello", "since": None}))["ok"]
            for room in rooms[start : start + BOARDS_PER_SOCKET]:
                opened = await sock.request({"type": "paint.open", "room": room})
                assert opened["ok"], opened
                sockets.append((sock, room))
        process = psutil.Process(pid)
        idle = process.memory_info().rss
        budget, counts, errors = [target], {"accepted": 0, "refused": 0}, set[str]()
        with RssSampler(pid) as sampler:
            started = time.perf_counter()
            await asyncio.gather(*(pour(s, r, budget, counts, errors) for s, r in sockets))
            elapsed = time.perf_counter() - started
        end = process.memory_info().rss
        for sock, _ in sockets:
            await sock.ws.close()
    mib = 1 << 20
    accepted = counts["accepted"] * len(PICTURE) / mib
    peak, growth = sampler.peak / mib, (sampler.peak - idle) / mib
    print(f"boards              {boards} (opened while empty)")
    print(f"pictures accepted   {counts['accepted']:,} ({accepted:,.1f} MiB) in {elapsed:.1f} s")
    print(f"boards refusing     {counts['refused']} of {boards}")
    print(f"server RSS idle     {idle / mib:,.1f} MiB (boards open, empty)")
    print(f"server RSS peak     {peak:,.1f} MiB ({growth:+,.1f})")
    print(f"server RSS at end   {end / mib:,.1f} MiB (boards still open)")
    for error in sorted(errors):
        print(f"refused with        {error}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boards", type=int, default=32, help="boards, opened while empty")
    parser.add_argument("--target", default="256M", help="picture bytes to send at most")
    args = parser.parse_args()
    env = {**os.environ, **RELAXED, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory(prefix="pychat-painter-bench-") as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        proc, url = start_server(data, env)
        try:
            asyncio.run(run(url, proc.pid, args.boards, parse_size(args.target)))
        finally:
            proc.terminate()
            proc.wait(15)


if __name__ == "__main__":
    main()
