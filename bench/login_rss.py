"""Memory of logins: the server's RSS before and after 1,000 logins (real scrypt cost).

Starts a real `pychat serve` on a fresh data dir (default `auth.scrypt_n`, 16 MiB a hash),
logs in `--logins` times (`--concurrency` at once), then opens one WebSocket per session
and keeps them all open, sampling the server's RSS with psutil throughout. Prints RSS idle,
peak during the logins, after them, and with the sockets open.

    .venv/bin/python bench/login_rss.py                         # 1,000 logins
    .venv/bin/python bench/login_rss.py --unit-malloc           # malloc as the unit sets it
    .venv/bin/python bench/login_rss.py --tree /tmp/old-checkout  # another version's code
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import tempfile
import time
from pathlib import Path

import aiohttp
import psutil
from _server import PASSWORD, ROOT, RssSampler, start_server

BIG = "1000000"
MIB = 1 << 20
GOAL_BYTES = 120_000_000  # issue 17: after 1,000 logins, with 1,000 sockets held
# systemd/pychat.service's malloc settings: two arenas; 1 MiB+ blocks returned when freed.
UNIT_MALLOC = {"MALLOC_ARENA_MAX": "2", "MALLOC_MMAP_THRESHOLD_": "1048576"}
# Caps a single benchmark client would trip (harmless when a version does not know them).
RELAXED = {
    "PYCHAT_LIMITS_WS_PER_IP": BIG,
    "PYCHAT_LIMITS_WS_PER_USER": BIG,
    "PYCHAT_SERVER_CONNECTIONS_PER_IP": "100000",
    "PYCHAT_SERVER_MAX_CONNECTIONS": "100000",
}


async def settled_rss(process: psutil.Process) -> int:
    """RSS once it stops moving (a few samples apart)."""
    last = process.memory_info().rss
    for _ in range(20):
        await asyncio.sleep(0.25)
        now = process.memory_info().rss
        if abs(now - last) < MIB // 4:
            return now
        last = now
    return last


async def login(http: aiohttp.ClientSession, url: str) -> str:
    body = {"username": "admin", "password": PASSWORD}
    for attempt in range(20):
        async with http.post(url + "/api/auth/login", json=body) as r:
            if r.status == 429:  # the hashing queue is full: back off as a client should
                await asyncio.sleep(0.1 * (attempt + 1))
                continue
            assert r.status == 200, await r.text()
            return r.cookies["pychat_session"].value
    raise RuntimeError("login kept being refused")


async def run(url: str, pid: int, logins: int, concurrency: int, sockets: bool) -> None:
    process = psutil.Process(pid)
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=None)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        await login(http, url)  # warm-up: imports, the first hashing thread
        idle = await settled_rss(process)
        gate = asyncio.Semaphore(concurrency)

        async def one() -> str:
            async with gate:
                return await login(http, url)

        with RssSampler(pid) as sampler:
            started = time.perf_counter()
            cookies = await asyncio.gather(*(one() for _ in range(logins)))
            elapsed = time.perf_counter() - started
        after = await settled_rss(process)
        threads = process.num_threads()
        print(f"logins              {logins} in {elapsed:.1f} s ({logins / elapsed:.1f}/s)")
        print(f"server RSS idle     {idle / MIB:,.1f} MiB")
        print(f"server RSS peak     {sampler.peak / MIB:,.1f} MiB (during the logins)")
        print(f"server RSS after    {after / MIB:,.1f} MiB ({(after - idle) / MIB:+,.1f} MiB)")
        print(f"server threads      {threads}")
        if not sockets:
            return
        ws_url = url.replace("http://", "ws://") + "/api/ws"
        open_sockets = []
        for cookie in cookies:
            headers = {"Cookie": f"pychat_session={cookie}"}
            open_sockets.append(await http.ws_connect(ws_url, headers=headers, heartbeat=None))
        held = await settled_rss(process)
        per = (held - after) / max(1, len(open_sockets))
        print(
            f"server RSS sockets  {held / MIB:,.1f} MiB with {len(open_sockets)} WebSockets "
            f"({per / 1024:,.1f} KiB each)"
        )
        verdict = "met" if held <= GOAL_BYTES else "MISSED"
        goal = f"<= 120 MB ({GOAL_BYTES / MIB:.1f} MiB)"
        print(f"goal                RSS with the sockets {goal}: {verdict}")
        for ws in open_sockets:
            await ws.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logins", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8, help="logins at once")
    parser.add_argument("--scrypt-n", default="16384", help="auth.scrypt_n (the default)")
    parser.add_argument(
        "--unit-malloc", action="store_true", help="glibc malloc tuned as in pychat.service"
    )
    parser.add_argument("--no-sockets", action="store_true", help="skip the WebSockets")
    parser.add_argument("--tree", default=str(ROOT), help="the code to run (a checkout)")
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # 1,000 sockets each side
    env = {
        **os.environ,
        **RELAXED,
        "PYCHAT_AUTH_SCRYPT_N": args.scrypt_n,
        "PYTHONPATH": str(Path(args.tree).resolve()),
    }
    if args.unit_malloc:
        env.update(UNIT_MALLOC)
    with tempfile.TemporaryDirectory(prefix="pychat-login-bench-") as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        proc, url = start_server(data, env)
        try:
            asyncio.run(run(url, proc.pid, args.logins, args.concurrency, not args.no_sockets))
        finally:
            proc.terminate()
            proc.wait(15)


if __name__ == "__main__":
    main()
