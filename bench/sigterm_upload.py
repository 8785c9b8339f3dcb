"""How long `pychat serve` takes to stop on SIGTERM while a large upload streams in.

Starts a real server on a fresh data dir, logs in as its admin, streams a multipart upload
that announces `--size` bytes (generated on the fly, never finished), and sends SIGTERM once
the server is writing the temp file. Prints the seconds from SIGTERM to exit, the exit
status, and whether the half-received temp file was left behind. systemd allows 30 s.

    .venv/bin/python bench/sigterm_upload.py
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import aiohttp
from _server import PASSWORD, start_server

BOUNDARY = "pychat-bench-boundary"


async def measure(proc: subprocess.Popen[str], url: str, data: Path, size: int) -> float:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        login = {"username": "admin", "password": PASSWORD}
        async with http.post(url + "/api/auth/login", json=login) as resp:
            assert resp.status == 200, await resp.text()
        cookie = next(c for c in http.cookie_jar if c.key == "pychat_session").value
    host, port = url.removeprefix("http://").rsplit(":", 1)
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        (
            f"POST /api/uploads HTTP/1.1\r\nHost: {host}:{port}\r\nCookie: pychat_session={cookie}"
            f"\r\nContent-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
            f"Content-Length: {len(head) + size + len(BOUNDARY) + 8}\r\n\r\n"
        ).encode()
        + head
    )

    async def stream() -> None:
        chunk = os.urandom(1 << 16)
        with contextlib.suppress(OSError):
            while True:
                writer.write(chunk)
                await writer.drain()
                await asyncio.sleep(0)  # drain() does not yield while the kernel takes it all

    uploading = asyncio.create_task(stream())
    temp = data / "files" / "tmp"
    deadline = time.monotonic() + 30
    while not (temp.is_dir() and any(temp.iterdir())):
        if time.monotonic() > deadline:
            raise SystemExit(f"the upload never started: {await reader.read(1000)!r}")
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)  # well into the upload
    began = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    await asyncio.to_thread(proc.wait, 120)
    took = time.monotonic() - began
    uploading.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await uploading
    writer.transport.abort()
    del reader
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument(
        "--size", type=int, default=1000 << 20, help="announced bytes (default 1000 MiB)"
    )
    args = ap.parse_args()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYCHAT_AUTH_SCRYPT_N": "1024"}
    with tempfile.TemporaryDirectory(prefix="pychat-sigterm-") as tmp:
        data = Path(tmp) / "data"
        proc, url = start_server(data, env)
        try:
            took = asyncio.run(measure(proc, url, data, args.size))
        finally:
            if proc.poll() is None:
                proc.kill()
        left = sorted((data / "files" / "tmp").iterdir())
        print(f"SIGTERM during an upload: stopped in {took:.1f} s, exit status {proc.returncode},"
              f" temp files left {len(left)}")  # fmt: skip


if __name__ == "__main__":
    main()
