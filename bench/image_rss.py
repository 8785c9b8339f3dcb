"""Memory while images are uploaded: hostile ones (tiny files declaring huge images) and
ordinary photos, one at a time and a few at once.

Starts a real `pychat serve` on a fresh data dir, logs in as its admin and uploads each
case, sampling every 10 ms the RSS of the server process and, separately, the sum of its
child processes (the image decode processes and their fork server). For each case it
prints the reply, the server's peak and its retained RSS (once the upload is answered and
half a second has passed) beside the idle RSS before the first case, and the children's
peak.

    .venv/bin/python bench/image_rss.py
    .venv/bin/python bench/image_rss.py --only png --repeat 2
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import psutil
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from upload_rss import PASSWORD, ROOT, start_server

from tests.integration.image_corpus import (
    gif_huge_screen,
    gif_many_frames,
    jpeg_photo,
    png_bomb,
    truncated_jpeg,
    webp_huge_canvas,
)

MIB = 1 << 20


CASES: dict[str, Callable[[], bytes]] = {
    "png 7000x7000 RGBA zeros": lambda: png_bomb("RGBA", 7000),
    "png 7000x7000 1-bit": lambda: png_bomb("1", 7000),
    "png 20000x20000 1-bit (over cap)": lambda: png_bomb("1", 20000),
    "jpeg cut, declaring 7000x7000": lambda: truncated_jpeg(7000, False),
    "jpeg cut, progressive 7000x7000": lambda: truncated_jpeg(7000, True),
    "gif 1x1 on a 65535^2 screen": gif_huge_screen,
    "gif 1000x400, 900 frames": lambda: gif_many_frames((1000, 400), 900),
    "webp 1x1 on a 16384^2 canvas": webp_huge_canvas,
    "photo 12 MP jpeg, rotated": lambda: jpeg_photo((4000, 3000)),
    "photo 48 MP jpeg, rotated": lambda: jpeg_photo((8000, 6000)),
    "photo 48 MP jpeg, upright": lambda: jpeg_photo((8000, 6000), orientation=1),
}
# name, case, how many at once
CONCURRENT = [
    ("4 x jpeg cut progressive at once", "jpeg cut, progressive 7000x7000", 4),
    ("4 x png RGBA bomb at once", "png 7000x7000 RGBA zeros", 4),
    ("4 x photo 12 MP at once", "photo 12 MP jpeg, rotated", 4),
]


class Sampler:
    """Peak RSS of the server and of all its children together."""

    def __init__(self, pid: int) -> None:
        self.server = psutil.Process(pid)
        self.peak = 0
        self.children_peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def rss(self) -> int:
        return int(self.server.memory_info().rss)

    def _children(self) -> int:
        total = 0
        for child in self.server.children(recursive=True):
            with contextlib.suppress(psutil.Error):  # it just exited
                total += child.memory_info().rss
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            self.children_peak = max(self.children_peak, self._children())
            self._stop.wait(0.01)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def send(http: aiohttp.ClientSession, url: str, name: str, data: bytes) -> str:
    form = aiohttp.FormData()
    form.add_field("file", data, filename=name, content_type="application/octet-stream")
    async with http.post(url + "/api/uploads", data=form) as r:
        body: Any = await r.json()
    if r.status == 201:
        upload = body["upload"]
        thumb = "thumb" if upload.get("thumb_url") else "no thumb"
        return f"201 {upload['mime']} {thumb}"
    return f"{r.status} {body.get('error', {}).get('code')}"


async def run(url: str, pid: int, only: str, repeat: int) -> None:
    jar = aiohttp.CookieJar(unsafe=True)
    timeout = aiohttp.ClientTimeout(total=600)
    corpus = {name: make() for name, make in CASES.items() if only in name}
    async with aiohttp.ClientSession(cookie_jar=jar, timeout=timeout) as http:
        login = {"username": "admin", "password": PASSWORD}
        async with http.post(url + "/api/auth/login", json=login) as r:
            assert r.status == 200, await r.text()
        warm = io.BytesIO()
        Image.new("RGB", (64, 64), "red").save(warm, "PNG")
        await send(http, url, "warm.png", warm.getvalue())  # imports, threads, fork server
        idle = psutil.Process(pid).memory_info().rss
        print(f"server RSS idle after warm-up: {idle / MIB:.1f} MiB\n")
        head = (
            f"{'case':36} {'bytes':>9} {'reply':28} {'peak':>8} {'retained':>9}"
            f" {'decode':>8} {'s':>6}"
        )
        print(head + "\n" + "-" * len(head))
        jobs: list[tuple[str, list[tuple[str, bytes]]]] = [
            (name, [(name, data)]) for name, data in corpus.items()
        ]
        for title, case, n in CONCURRENT:
            if case in corpus:
                jobs.append((title, [(case, corpus[case])] * n))
        for _ in range(repeat):
            for title, uploads in jobs:
                with Sampler(pid) as sampler:
                    started = time.perf_counter()
                    replies = await asyncio.gather(
                        *(send(http, url, f"{i}.bin", data) for i, (_, data) in enumerate(uploads))
                    )
                    elapsed = time.perf_counter() - started
                await asyncio.sleep(0.5)  # let the allocator hand back what it will
                retained = sampler.rss()
                reply = ", ".join(sorted(set(replies)))
                size = len(uploads[0][1])
                print(
                    f"{title[:36]:36} {size:>9,} {reply[:28]:28}"
                    f" {sampler.peak / MIB:>7.0f}M {(retained - idle) / MIB:>+8.0f}M"
                    f" {sampler.children_peak / MIB:>7.0f}M {elapsed:>6.1f}"
                )
        async with http.get(url + "/api/health") as r:
            print(f"\n/api/health after the corpus: {r.status}")
    print(
        "peak: server RSS peak during the case; retained: server RSS 0.5 s after, minus idle;"
        "\ndecode: peak RSS of the server's child processes together (fork server + decodes)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="run only the cases whose name has this")
    parser.add_argument("--repeat", type=int, default=1, help="run the corpus this many times")
    args = parser.parse_args()
    env = {**os.environ, "PYCHAT_AUTH_SCRYPT_N": "1024", "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory(prefix="pychat-image-bench-") as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        proc, url = start_server(data, env)
        try:
            asyncio.run(run(url, proc.pid, args.only, args.repeat))
        finally:
            proc.terminate()
            proc.wait(15)


if __name__ == "__main__":
    main()
