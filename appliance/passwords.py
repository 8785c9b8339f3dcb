"""Password hashing with scrypt (memory-hard), always run off the event loop.

Every hash runs in one small pool per server (`HashPool`, on Services): each run takes
`auth.scrypt_n` KiB (16 MiB by default) for a moment, so a few at a time keep a Pi's memory
and CPU for everyone else, and a full queue answers 429 at once instead of making every
login wait behind a flood.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from .errors import RateLimited

T = TypeVar("T")

_R, _P, _DKLEN = 8, 1, 32
MAX_PASSWORD_BYTES = 1024


def hash_password_sync(password: str, n: int) -> str:
    salt = secrets.token_bytes(16)
    key = _scrypt(password, salt, n, _R, _P)
    return f"scrypt${n}${_R}${_P}${_b64(salt)}${_b64(key)}"


def verify_password_sync(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(key)
        actual = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


# A stored hash no password matches: verifying against it runs the same scrypt as a real
# check, so a login for an unknown user takes as long as one for a known user. Random salt
# and key, so making it runs no scrypt (16 MiB and a scrypt's time before the server could
# listen, every start).
def dummy_hash(n: int) -> str:
    salt, key = secrets.token_bytes(16), secrets.token_bytes(_DKLEN)
    return f"scrypt${n}${_R}${_P}${_b64(salt)}${_b64(key)}"


class HashPool:
    """`workers` threads for scrypt and at most `queue` runs waiting for them; beyond that
    `run` raises `RateLimited` without queueing anything."""

    def __init__(self, workers: int = 2, queue: int = 32) -> None:
        self.workers = workers
        self.queue = queue
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()  # the counts change in the worker threads
        self._pending = 0  # submitted and not finished: counted until the thread is done
        self.runs = 0  # finished runs, for benchmarks and tests

    def configure(self, workers: int, queue: int) -> None:
        """Resize (at start-up, from the settings); a running pool is replaced when idle."""
        with self._lock:
            if (workers, queue) == (self.workers, self.queue):
                return
            self.workers, self.queue = workers, queue
            if self._executor is not None and self._pending == 0:
                self._executor.shutdown(wait=False)
                self._executor = None

    @property
    def pending(self) -> int:
        return self._pending

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        with self._lock:
            if self._pending >= self.workers + self.queue:
                raise RateLimited(
                    "The server is busy checking passwords; try again in a moment.",
                    retry_after_s=1.0,
                )
            self._pending += 1
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="scrypt")
            executor = self._executor
        try:
            job: Future[T] = executor.submit(fn, *args)
        except BaseException:
            self._finished(None)
            raise
        # The slot is freed when the thread finishes, even if the caller went away.
        job.add_done_callback(self._finished)
        return await asyncio.wrap_future(job)

    async def hash(self, password: str, n: int) -> str:
        return await self.run(hash_password_sync, password, n)

    async def verify(self, password: str, stored: str) -> bool:
        return await self.run(verify_password_sync, password, stored)

    def close(self) -> None:
        """Stop the threads once their runs finish (the server is stopping); a later run
        starts new ones."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)

    def _finished(self, _: object) -> None:
        with self._lock:
            self._pending -= 1
            self.runs += 1


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=n,
        r=r,
        p=p,
        maxmem=256 * n * r + (1 << 20),
        dklen=_DKLEN,
    )


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")
