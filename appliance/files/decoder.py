"""Image decoding in a throwaway process: bounded in memory and time, nothing kept after.

Pillow allocates a decoded frame whole (4 bytes a pixel), and glibc keeps much of what a
big decode freed, so a few small files declaring large images could take the server's
memory for good. Each decode therefore runs in a child process:

- forked from a `forkserver` that already imported Pillow (about 10 ms a decode instead of
  a fresh interpreter), never from the server itself, which has threads;
- with its address space capped first (RLIMIT_AS), so a bomb ends in a MemoryError or the
  child's death, never in the server growing;
- killed when it takes longer than a timeout (a GIF with a million frames);
- gone when the decode is done, and its memory with it.

One decode runs at a time; a few more wait; anyone beyond that is told to try again soon,
because each waiting upload holds one of the server's worker threads.
"""

from __future__ import annotations

import importlib.machinery
import logging
import multiprocessing
import resource
import sys
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import AppError, RateLimited, TooLarge

if TYPE_CHECKING:  # not imported at run time: the decode processes need neither
    from aiohttp import web

    from ..config import UploadsSettings

log = logging.getLogger(__name__)
T = TypeVar("T")
# Imported once by the fork server, so every decode starts with them loaded (the server
# itself never imports Pillow: images.py imports it inside what runs here).
PRELOAD = [
    "appliance.files.images",
    "PIL.Image",
    "PIL.ImageOps",
    "PIL.ImageSequence",
    "PIL.JpegImagePlugin",
]
# Starting a decode process (a fork of the fork server, which already imported Pillow) takes
# milliseconds; under load it may take seconds. Past this it is not coming.
STARTUP_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class DecodeLimits:
    max_pixels: int = 50_000_000  # one frame, read from the header before any decoding
    memory_bytes: int = 640 << 20  # address space of one decode (~29 MiB is Python+Pillow)
    timeout_s: float = 60.0
    running: int = 1  # decodes at once
    waiting: int = 3  # decodes that may queue behind them; more are told to retry


NEEDS_MEMORY = "This image needs more memory to process than this server allows."


def needs_memory(what: str) -> str:
    return NEEDS_MEMORY.replace("image", what)


class DecodeFailed(TooLarge):
    """The image needed more memory or time than a decode may have."""


class DecoderStopped(AppError):
    status, code = 503, "unavailable"


class Decoder:
    def __init__(self, limits: DecodeLimits | None = None) -> None:
        self.limits = limits or DecodeLimits()
        self._context = multiprocessing.get_context("forkserver")
        self._slots = threading.BoundedSemaphore(self.limits.running)
        self._admitted = threading.BoundedSemaphore(self.limits.running + self.limits.waiting)
        self._lock = threading.Lock()
        self._children: set[Any] = set()
        self._closed = False

    def start(self) -> None:
        """Start the fork server now rather than on the first upload (~0.2 s of CPU)."""
        from multiprocessing import forkserver

        _children_skip_main()
        self._context.set_forkserver_preload(PRELOAD)
        forkserver.ensure_running()

    def run(self, job: Callable[..., T], *args: Any, what: str = "image") -> T:
        """`job(*args)` in a child process; its return value or its exception. Blocks.
        `what` names the file in the errors a person may read ("image", "recording")."""
        if not self._admitted.acquire(blocking=False):
            raise RateLimited(
                "Other files are being processed; try again in a moment.", retry_after_s=2.0
            )
        try:
            with self._slots:
                return self._run(job, args, what)
        finally:
            self._admitted.release()

    def _run(self, job: Callable[..., T], args: tuple[Any, ...], what: str) -> T:
        receive, send = self._context.Pipe(duplex=False)
        child = self._context.Process(
            target=_child, args=(send, self.limits, job, args), daemon=True
        )
        with self._lock:
            if self._closed:
                raise DecoderStopped("The server is stopping; try again in a moment.")
            _children_skip_main()
            # Here, not at import: it imports multiprocessing's fork server module.
            self._context.set_forkserver_preload(PRELOAD)
            child.start()
            self._children.add(child)
        send.close()  # ours; the child's copy closing is how we hear that it died
        answered = False
        try:
            # The time limit is the decode's, not the process start's: on a loaded Pi the
            # fork and its imports can take seconds, and that must not fail a small image.
            if self._receive(receive, child, STARTUP_TIMEOUT_S, what) is None:
                log.warning("a %s decode process did not start in %.0f s", what, STARTUP_TIMEOUT_S)
                raise DecodeFailed(f"The server is too busy to process this {what}; try again.")
            reply = self._receive(receive, child, self.limits.timeout_s, what)
            if reply is None:
                log.warning("a %s decode took over %.0f s: stopped", what, self.limits.timeout_s)
                raise DecodeFailed(f"This {what} takes too long to process.")
            answered = True
            outcome, value = reply
        finally:
            receive.close()
            if answered:
                child.join(5.0)  # it exits right after answering
            if child.exitcode is None:
                child.kill()
            child.join()
            with self._lock:
                self._children.discard(child)
            child.close()
        if outcome == "raise":
            raise value
        return value  # type: ignore[no-any-return]

    def _receive(self, receive: Connection, child: Any, timeout_s: float, what: str) -> Any:
        """The child's next message; None when none came within `timeout_s`."""
        if not receive.poll(timeout_s):
            return None
        try:
            return receive.recv()
        except (EOFError, OSError):
            # Killed: out of memory, a crash in a decoder, or the server stopping.
            child.join(1.0)
            if self._closed:
                raise DecoderStopped("The server is stopping; try again in a moment.") from None
            log.warning("a %s decode died (exit code %s)", what, child.exitcode)
            raise DecodeFailed(needs_memory(what)) from None

    def close(self) -> None:
        """Stop: kill decodes under way (their uploads get an error) and refuse new ones."""
        with self._lock:
            self._closed = True
            for child in self._children:
                child.kill()


def _child(send: Connection, limits: DecodeLimits, job: Callable[..., Any], args: Any) -> None:
    _limit(limits)
    send.send(("started", None))  # the decode's time limit counts from here
    try:
        reply: tuple[str, Any] = ("return", job(*args))
    except MemoryError:
        reply = ("raise", DecodeFailed(NEEDS_MEMORY))
    except Exception as e:  # the parent re-raises it as it was
        reply = ("raise", e)
    try:
        send.send(reply)
    except Exception as e:  # an exception that does not pickle
        send.send(("raise", RuntimeError(f"{type(e).__name__} in an image decode")))
    send.close()


def _children_skip_main() -> None:
    """Started as a script without a module spec (the `pychat` console script, which
    imports the whole server), `__main__` would be run again in every decode process, for
    nothing: its jobs live in appliance.files. A spec named `__main__` tells
    multiprocessing that there is nothing to re-import."""
    main = sys.modules.get("__main__")
    if main is not None and getattr(main, "__spec__", None) is None:
        main.__spec__ = importlib.machinery.ModuleSpec("__main__", None)


def _limit(limits: DecodeLimits) -> None:
    try:
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no core dump of a killed decode
        # A backstop to the server's timeout, should the server be gone: CPU seconds.
        cpu = int(limits.timeout_s) + 5
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    except (OSError, ValueError):
        # Under a seccomp filter that denies prlimit64 (pychat.service allows it: glibc's
        # setrlimit is prlimit64, which @resources leaves out): the pixel cap, the timeout
        # and the short life still hold.
        pass


_decoder = Decoder()


def decoder() -> Decoder:
    return _decoder


def configure(limits: DecodeLimits) -> Decoder:
    global _decoder
    _decoder = Decoder(limits)
    return _decoder


def install(app: web.Application, settings: UploadsSettings) -> None:
    """Decode with the server's settings while it runs; stop decodes when it stops (their
    uploads get an error at once rather than holding the shutdown for a timeout)."""
    import asyncio  # here: the decode processes, which import this module, need none of it

    limits = DecodeLimits(
        max_pixels=settings.image_max_pixels,
        memory_bytes=settings.image_decode_bytes,
        timeout_s=settings.image_decode_timeout_s,
        waiting=settings.image_decode_queue,
    )

    async def ctx(_app: web.Application) -> AsyncIterator[None]:
        started = configure(limits)
        warm = asyncio.create_task(asyncio.to_thread(started.start))
        yield
        started.close()
        await asyncio.gather(warm, return_exceptions=True)

    async def stop(_app: web.Application) -> None:
        decoder().close()

    app.cleanup_ctx.append(ctx)
    app.on_shutdown.append(stop)
