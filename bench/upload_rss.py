"""Memory while a big file is uploaded: the server's RSS idle, and its peak during the upload.

Starts a real `pychat serve` on a fresh data dir, logs in as its admin, and POSTs one
multipart upload of `--size` bytes generated on the fly (never held in memory here either),
sampling the server's RSS every 20 ms with psutil. Prints idle and peak RSS, the growth,
and the throughput.

    .venv/bin/python bench/upload_rss.py                # 1 GiB
    .venv/bin/python bench/upload_rss.py --size 200M    # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import psutil
from _server import PASSWORD, ROOT, RssSampler, start_server

CHUNK = 1 << 20
BOUNDARY = "pychat-bench-boundary"


def parse_size(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    text = text.strip().upper()
    if text[-1:] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


async def body(size: int) -> AsyncIterator[bytes]:
    yield (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    block = os.urandom(CHUNK)  # the same random MiB again and again: no memory, no CPU
    sent = 0
    while sent < size:
        n = min(CHUNK, size - sent)
        yield block if n == CHUNK else block[:n]
        sent += n
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def tail_bytes() -> int:
    return len(f"\r\n--{BOUNDARY}--\r\n")


def head_bytes() -> int:
    return len(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    )


async def run(url: str, pid: int, size: int) -> None:
    jar = aiohttp.CookieJar(unsafe=True)
    timeout = aiohttp.ClientTimeout(total=None)
    async with aiohttp.ClientSession(cookie_jar=jar, timeout=timeout) as http:
        login = {"username": "admin", "password": PASSWORD}
        async with http.post(url + "/api/auth/login", json=login) as r:
            assert r.status == 200, await r.text()
        # Warm up the upload path once (imports, Pillow, the first thread pool threads).
        form = aiohttp.FormData()
        form.add_field("file", b"warm-up", filename="w.bin")
        async with http.post(url + "/api/uploads", data=form) as r:
            assert r.status == 201, await r.text()
        process = psutil.Process(pid)
        idle = 0
        for _ in range(5):
            idle = max(idle, process.memory_info().rss)
            await asyncio.sleep(0.1)
        headers = {
            "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
            "Content-Length": str(head_bytes() + size + tail_bytes()),
        }
        with RssSampler(pid) as sampler:
            started = time.perf_counter()
            async with http.post(url + "/api/uploads", data=body(size), headers=headers) as r:
                reply = await r.json()
                assert r.status == 201, reply
            elapsed = time.perf_counter() - started
        cpu = process.cpu_times()
    mib = 1 << 20
    print(f"uploaded            {reply['upload']['size'] / mib:,.0f} MiB in {elapsed:.1f} s")
    print(f"throughput          {size / mib / elapsed:,.1f} MiB/s")
    print(f"server RSS idle     {idle / mib:,.1f} MiB")
    print(f"server RSS peak     {sampler.peak / mib:,.1f} MiB (during the upload)")
    print(f"growth              {(sampler.peak - idle) / mib:+,.1f} MiB")
    print(f"server CPU          {cpu.user:.1f} s user, {cpu.system:.1f} s system (whole run)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1G", help="bytes to upload (K, M, G suffixes)")
    parser.add_argument("--data", help="data folder (default: a temporary one, removed after)")
    args = parser.parse_args()
    size = parse_size(args.size)
    env = {**os.environ, "PYCHAT_AUTH_SCRYPT_N": "1024", "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory(prefix="pychat-upload-bench-") as tmp:
        data = Path(args.data) if args.data else Path(tmp) / "data"
        data.mkdir(parents=True, exist_ok=True)
        proc, url = start_server(data, env)
        try:
            asyncio.run(run(url, proc.pid, size))
        finally:
            proc.terminate()
            proc.wait(15)


if __name__ == "__main__":
    main()
