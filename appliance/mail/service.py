"""What the rest of the server uses to mail: the current settings, where links point (the
device's own name), and handing a mail to the background sender."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from email.message import EmailMessage
from typing import Any

from ..db import Database
from ..storage import settings as stored
from . import config
from .config import MailConfig
from .sender import Done, Mailer

log = logging.getLogger(__name__)
DEFAULT_ORG = "Pychat"


class MailService:
    def __init__(
        self,
        db: Database,
        site_url: Callable[[], Awaitable[str]],
        *,
        timeout_s: float,
        queue: int,
    ) -> None:
        self.db = db
        self.timeout_s = timeout_s
        # https://<device name>.local: the address people open the app at on the LAN.
        self.site_url = site_url
        self.mailer = Mailer(self.config, timeout_s=timeout_s, queue=queue)
        self._tasks: set[asyncio.Task[None]] = set()

    async def config(self) -> MailConfig:
        return await config.load(self.db)

    async def org_name(self) -> str:
        return await stored.get(self.db, stored.ORG_NAME) or DEFAULT_ORG

    def send_later(self, message: EmailMessage, done: Done | None = None) -> bool:
        """Queue a mail for the background sender; never waits for the mail server."""
        return self.mailer.submit(message, done)

    def in_background(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` after the reply: its time (and whether it found anyone) never shows."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("mail work failed", exc_info=task.exception())
