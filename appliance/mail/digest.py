"""The digest of missed messages: every few seconds, for each person with an address who
wants digests, the DMs, mentions and keyword matches that the notification rule allows and
that she has still not read on any device some minutes (the admin's setting) after they
arrived, in one mail.

Nothing is mailed twice, across restarts too: each person has a mark in the database, the
newest message her digests have covered, moved only once her digest was sent (a failed
send is tried again at a later check, with whatever is still unread then).

"Some minutes after they arrived" is judged by samples of the newest message id taken at
each check on the event loop's clock, which never steps (a Pi's wall clock may): every
message up to a sample taken `digest_minutes` ago is old enough.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable

from ..db import Tx
from ..engine import Row
from ..notify.policy import MessageFacts, NotifySettings, matches_keyword, quiet_now, should_notify
from ..notify.settings import load_many
from ..storage import mail as stored
from . import compose
from .service import MailService

log = logging.getLogger(__name__)
MAX_PER_DIGEST = 50  # more waits for the next digest
CANDIDATES = 500  # unread messages judged per person and check (keywords look at them all)


class DigestJob:
    def __init__(self, mail: MailService, now_ms: Callable[[], int]) -> None:
        self.mail = mail
        self.now_ms = now_ms  # wall clock, for the rule's quiet hours and mute deadlines
        self._samples: deque[tuple[float, int]] = deque()  # (loop time, newest message id)
        self._in_flight: set[int] = set()

    def _old_enough(self, now: float, delay_s: float) -> int | None:
        """The newest message id that has been there at least `delay_s`, if known yet."""
        while len(self._samples) > 1 and self._samples[1][0] <= now - delay_s:
            self._samples.popleft()
        if self._samples and self._samples[0][0] <= now - delay_s:
            return self._samples[0][1]
        return None

    async def check(self) -> None:
        db = self.mail.db
        now = asyncio.get_running_loop().time()
        self._samples.append((now, await stored.newest_message_id(db)))
        config = await self.mail.config()
        through = self._old_enough(now, config.digest_minutes * 60)
        if not config.configured or through is None:
            return
        readers = [
            r
            for r in await stored.digest_readers(db, through)
            if int(r["id"]) not in self._in_flight
        ]
        if not readers:
            return
        everyone = await load_many(db, [int(r["id"]) for r in readers])
        for reader in readers:
            try:
                settings = everyone[int(reader["id"])]
                await self._one(reader, int(reader["mark"]), through, settings)
            except Exception:  # one person's trouble never holds up everyone's digest
                log.exception("the mail digest of user %d failed", reader["id"])

    async def _one(self, reader: Row, mark: int, through: int, settings: NotifySettings) -> None:
        user_id = int(reader["id"])
        now_ms = self.now_ms()
        if quiet_now(settings, now_ms, reader["timezone"]):
            return  # do not disturb: her digest waits for the quiet hours to end
        rows = await stored.unread_candidates(
            self.mail.db,
            user_id,
            mark,
            through,
            CANDIDATES,
            any_room_message=bool(settings.keywords),
        )
        # Covered: every message judged now (the rest waits for the next check).
        covered = through if len(rows) < CANDIDATES else int(rows[-1]["id"])
        missed: list[compose.MissedMessage] = []
        for row in rows:
            if _counts(row, settings, user_id, now_ms, reader["timezone"]):
                missed.append(_missed(row, settings))
                if len(missed) == MAX_PER_DIGEST:
                    covered = int(row["id"])
                    break
        if not missed:
            await self._mark(user_id, covered)
            return
        org = await self.mail.org_name()
        site = await self.mail.site_url()
        config = await self.mail.config()
        message = compose.digest(
            from_address=config.from_address,
            org=org,
            to=str(reader["email"]),
            name=str(reader["display_name"]),
            site=site,
            missed=missed,
            settings_url=f"{site}/settings",
        )

        async def done(ok: bool) -> None:
            try:
                if ok:
                    await self._mark(user_id, covered)
                    log.info("mailed user %d a digest of %d missed messages", user_id, len(missed))
            finally:  # only once the mark is written may a check look at her again
                self._in_flight.discard(user_id)

        self._in_flight.add(user_id)
        if not self.mail.send_later(message, done):
            self._in_flight.discard(user_id)

    async def _mark(self, user_id: int, message_id: int) -> None:
        async def job(tx: Tx) -> None:
            await stored.set_mark(tx, user_id, message_id)

        await self.mail.db.write(job)

    @contextlib.asynccontextmanager
    async def running(self, every_s: float) -> AsyncIterator[None]:
        async def loop() -> None:
            while True:
                try:
                    await self.check()
                except Exception:
                    log.exception("the mail digest check failed")
                await asyncio.sleep(every_s)

        task = asyncio.create_task(loop(), name="mail-digest")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _counts(
    row: Row, settings: NotifySettings, reader_id: int, now_ms: int, tz: str | None
) -> bool:
    """Missed (the notifications contract): a DM, a mention or a keyword, that the rule allows."""
    mentioned = bool(row["mentioned"])
    if not (row["room_kind"] == "direct" or mentioned or matches_keyword(settings, row["body"])):
        return False
    facts = MessageFacts(
        room_id=int(row["room_id"]),
        room_kind=row["room_kind"],
        author_id=int(row["author_id"]),
        body=str(row["body"]),
        mentions_reader=mentioned,
    )
    return should_notify(settings, facts, reader_id=reader_id, now_ms=now_ms, timezone=tz)


def _missed(row: Row, settings: NotifySettings) -> compose.MissedMessage:
    return compose.MissedMessage(
        room_id=int(row["room_id"]),
        room_name=str(row["room_name"]),
        room_kind=str(row["room_kind"]),
        thread_id=None if row["thread_id"] is None else int(row["thread_id"]),
        message_id=int(row["id"]),
        author=str(row["author_name"]),
        body=None if settings.hide_text else _shown_text(row),
    )


def _shown_text(row: Row) -> str:
    if row["call"] == "missed":
        return "Missed call"
    return str(row["body"]) or "(an attachment)"
