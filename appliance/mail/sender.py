"""Sending: one SMTP conversation per mail with the admin's settings (`deliver`), and a
bounded queue drained by one background task (`Mailer`), so a down or slow mail server
delays nothing but mail: whoever hands over a mail never waits for the server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from email.message import EmailMessage

import aiosmtplib

from .config import MailConfig

log = logging.getLogger(__name__)


class MailFailed(Exception):
    """The mail server could not be reached or refused the mail; the message says which."""


def tls_context(config: MailConfig) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if config.ca_pem:
        context.load_verify_locations(cadata=config.ca_pem)  # besides the system's CAs
    if not config.verify_certificate:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


async def deliver(config: MailConfig, message: EmailMessage, timeout_s: float) -> None:
    """One mail through the configured server, within `timeout_s` all told."""
    if not config.configured:
        raise MailFailed("Email is not set up.")
    # Reading the system's CA bundle is file I/O: not on the event loop.
    context = await asyncio.to_thread(tls_context, config) if config.security != "none" else None
    try:
        async with asyncio.timeout(timeout_s):
            await aiosmtplib.send(
                message,
                hostname=config.host,
                port=config.port,
                username=config.username or None,
                password=config.password or None,
                use_tls=config.security == "tls",
                start_tls=config.security == "starttls",
                tls_context=context,
                timeout=timeout_s,
            )
    except (TimeoutError, aiosmtplib.SMTPTimeoutError):
        raise MailFailed(f"The mail server did not answer within {timeout_s:g} s.") from None
    except aiosmtplib.SMTPConnectError as e:
        raise MailFailed(f"Could not reach the mail server: {e}") from None
    except aiosmtplib.SMTPException as e:
        raise MailFailed(f"The mail server said: {e}") from None
    except (OSError, ssl.SSLError) as e:
        raise MailFailed(f"Could not reach the mail server: {e}") from None


Done = Callable[[bool], Awaitable[None]]


@dataclass(frozen=True)
class _Job:
    message: EmailMessage
    done: Done | None


class Mailer:
    """A bounded queue of mails and the one task that sends them, in order."""

    def __init__(
        self,
        settings: Callable[[], Awaitable[MailConfig]],
        *,
        timeout_s: float,
        queue: int,
    ) -> None:
        self._settings = settings
        self._timeout_s = timeout_s
        self._queue: asyncio.Queue[_Job] = asyncio.Queue(queue)

    def submit(self, message: EmailMessage, done: Done | None = None) -> bool:
        """Queue a mail; False (and logged) when the queue is full: it is not sent."""
        try:
            self._queue.put_nowait(_Job(message, done))
        except asyncio.QueueFull:
            log.warning("the mail queue is full: a mail to %s was dropped", message["To"])
            return False
        return True

    @property
    def waiting(self) -> int:
        return self._queue.qsize()

    async def _run(self) -> None:
        while True:
            job = await self._queue.get()
            ok = False
            try:
                await deliver(await self._settings(), job.message, self._timeout_s)
                ok = True
            except MailFailed as e:
                log.warning("a mail to %s was not sent: %s", job.message["To"], e)
            except Exception:
                log.exception("a mail to %s was not sent", job.message["To"])
            if job.done is not None:
                try:
                    await job.done(ok)
                except Exception:
                    log.exception("after a mail was sent")

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        task = asyncio.create_task(self._run(), name="mailer")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
