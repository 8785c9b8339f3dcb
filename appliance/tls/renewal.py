"""Keeping the device's certificate fresh while the server runs: `tls_renewal(device_tls)`
is a cleanup_ctx, added in build_app after the database (the certificate names the device)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from .device import DeviceTls

log = logging.getLogger(__name__)
CHECK_EVERY_S = 24 * 3600.0


def tls_renewal(
    device_tls: DeviceTls, *, every_s: float = CHECK_EVERY_S
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup_ctx: make or renew the certificate at startup (before any site starts),
    then check every `every_s` (daily), or at once after `device_tls.wake()`. A renewed
    certificate is loaded into the live SSLContext: new connections get it."""

    async def renewal(app: web.Application) -> AsyncIterator[None]:
        await device_tls.check()

        async def loop() -> None:
            while True:
                await device_tls.wait_for_wake(every_s)
                try:
                    await device_tls.check()
                except Exception:
                    log.exception("certificate check failed; the current one stays in use")

        task = asyncio.create_task(loop(), name="tls-renewal")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return renewal
