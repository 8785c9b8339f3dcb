"""Messages a person missed, pushed to her devices (Web Push, issue 16).

Watches committed events (it wraps the database's `on_commit`). A new message is checked
`push.delay_s` later: for each member with a push subscription for whom it is "missed"
(a direct message, a mention or one of her keywords, that `policy.should_notify` allows, and
still unread on every device: her read marker, or her marker of the thread, is before it),
the notifications contract's "message" payload goes to each of her devices. When she later
reads past what was pushed, her devices get the "read" payload, which closes it.

Bounded: checks waiting for their delay are capped (the oldest are dropped past the cap),
and what it remembers having pushed is capped too. It remembers in memory only: after a
restart a read closes no notification pushed before it (the app closes them when opened).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

from ..db import Database, Event
from ..hub import Hub
from ..push.service import MAX_PAYLOAD_BYTES, WebPush
from ..storage import notify_facts as facts
from .policy import MessageFacts, NotifySettings, matches_keyword, should_notify
from .settings import load_many

log = logging.getLogger(__name__)
MAX_WAITING = 10_000  # new messages waiting for their delay
MAX_REMEMBERED = 10_000  # (person, room) pairs with a pushed notification not yet read
BODY_CHARS = 1000  # a notification shows a few lines; the rest is in the app


def is_missed(
    settings: NotifySettings, message: MessageFacts, *, reader_id: int, now_ms: int, tz: str | None
) -> bool:
    """Contract point 3, but for being unread (the caller's check)."""
    if not (
        message.room_kind == "direct"
        or message.mentions_reader
        or matches_keyword(settings, message.body)
    ):
        return False
    return should_notify(settings, message, reader_id=reader_id, now_ms=now_ms, timezone=tz)


def message_payload(row: Any, *, hide_text: bool, unread: int | None) -> dict[str, Any]:
    """The contract's "message" payload, its body cut to fit in MAX_PAYLOAD_BYTES."""
    room_id, message_id, thread_id = int(row["room_id"]), int(row["id"]), row["thread_id"]
    author = str(row["author_name"])
    in_room = row["room_kind"] != "direct" and row["room_name"]
    url = f"/rooms/{room_id}?message={message_id}"
    if thread_id is not None:
        url += f"&thread={thread_id}"
    payload: dict[str, Any] = {
        "v": 1,
        "kind": "message",
        "room": room_id,
        "thread": thread_id,
        "message": message_id,
        "title": f"{author} in #{row['room_name']}" if in_room else author,
        "body": "" if hide_text else str(row["body"])[:BODY_CHARS],
        "tag": f"room-{room_id}",
        "url": url,
        "unread": unread,
    }
    while _size(payload) > MAX_PAYLOAD_BYTES and payload["body"]:
        payload["body"] = payload["body"][: len(payload["body"]) * 3 // 4]
    return payload


def read_payload(room_id: int, unread: int | None) -> dict[str, Any]:
    return {"v": 1, "kind": "read", "room": room_id, "tag": f"room-{room_id}", "unread": unread}


def _size(payload: dict[str, Any]) -> int:
    return len(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode())


class MissedMessages:
    def __init__(
        self,
        db: Database,
        hub: Hub,
        push: WebPush,
        delay_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = db
        self._hub = hub
        self._push = push
        self._delay_s = delay_s
        self._clock = clock
        self._waiting: deque[tuple[float, int]] = deque()
        self._wake = asyncio.Event()
        self._running = False
        # (person, room) -> {message id pushed: its thread root or None}, oldest first.
        self._pushed: OrderedDict[tuple[int, int], dict[int, int | None]] = OrderedDict()

    def ctx(self) -> Callable[[web.Application], AsyncIterator[None]]:
        """A cleanup context after the database's (whose on_commit it wraps) and the push
        service's."""

        async def run(app: web.Application) -> AsyncIterator[None]:
            publish = self._db.on_commit

            def on_commit(events: list[Event]) -> None:
                publish(events)  # the sockets first: nothing here may delay them
                if self._running:
                    try:
                        self.observe(events)
                    except Exception:
                        log.exception("could not look at committed events for Web Push")

            self._db.on_commit = on_commit
            self._running = True
            task = asyncio.create_task(self._checks(), name="missed-messages")
            yield
            self._running = False  # left wrapped: a later wrapper may hold our function
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

        return run

    # -- watching the event log (synchronous, on the writer's path: cheap) ------------------

    def observe(self, events: list[Event]) -> None:
        if not self._push.enabled:
            return
        for event in events:
            if event.kind == "message.new" and event.room_id is not None:
                if self._push.subscribers.isdisjoint(self._hub.members(event.room_id)):
                    continue  # nobody in the room has a device to push to
                message = json.loads(event.data_json)["message"]
                if message.get("call") is None and not message.get("deleted"):
                    self._wait(int(message["id"]))
            elif event.kind == "read" and event.room_id is not None and self._pushed:
                data = json.loads(event.data_json)
                if not data.get("moved_back"):
                    self._seen(int(data["user"]), event.room_id, int(data["message"]), None)
            elif event.kind == "thread.read" and event.user_id is not None and self._pushed:
                data = json.loads(event.data_json)
                self._seen(event.user_id, int(data["room"]), int(data["message"]), data["thread"])

    def _wait(self, message_id: int) -> None:
        due = asyncio.get_running_loop().time() + self._delay_s
        self._waiting.append((due, message_id))
        while len(self._waiting) > MAX_WAITING:
            self._waiting.popleft()
        self._wake.set()

    def _seen(self, user_id: int, room_id: int, upto: int, thread: int | None) -> None:
        """She read the room (thread None) or a thread up to `upto`: if that covers all we
        pushed her in the room, her devices close the room's notification."""
        pushed = self._pushed.get((user_id, room_id))
        if not pushed:
            return
        for message_id, root in list(pushed.items()):
            if message_id <= upto and root == thread:
                del pushed[message_id]
        if not pushed:
            del self._pushed[(user_id, room_id)]
            task = asyncio.get_running_loop().create_task(self._send_read(user_id, room_id))
            task.add_done_callback(_log_failure)

    async def _send_read(self, user_id: int, room_id: int) -> None:
        unread = await facts.unread_total(self._db, user_id)
        self._push.send(user_id, read_payload(room_id, unread), urgent=False)

    # -- the delayed check -------------------------------------------------------------------

    async def _checks(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._waiting:
                self._wake.clear()
                await self._wake.wait()
                continue
            due, message_id = self._waiting[0]
            if due > loop.time():
                await asyncio.sleep(due - loop.time())  # the delay is the same for all: FIFO
                continue
            self._waiting.popleft()
            try:
                await self.check(message_id)
            except Exception:
                log.exception("checking message %d for Web Push failed", message_id)

    async def check(self, message_id: int) -> None:
        """Push the message to each member who missed it (see the module's docstring)."""
        row = await facts.message(self._db, message_id)
        if row is None or row["deleted"] or row["call"] is not None:
            return
        room_id, author_id = int(row["room_id"]), int(row["author_id"])
        members = await facts.members(self._db, room_id)
        candidates = [u for u in members if u != author_id and self._push.wants(u)]
        if not candidates:
            return
        unread = await facts.not_read(self._db, message_id, room_id, row["thread_id"], candidates)
        people = await facts.timezones(self._db, sorted(unread))  # active people only
        if not people:
            return
        settings = await load_many(self._db, people)
        mentioned = await facts.mentioned(self._db, message_id)
        now_ms = int(self._clock() * 1000)
        for user_id, tz in people.items():
            mine = settings.get(user_id, NotifySettings())
            message = MessageFacts(
                room_id=room_id,
                room_kind=row["room_kind"],
                author_id=author_id,
                body=str(row["body"]),
                mentions_reader=user_id in mentioned or bool(row["mention_room"]),
            )
            if not is_missed(mine, message, reader_id=user_id, now_ms=now_ms, tz=tz):
                continue
            badge = await facts.unread_total(self._db, user_id)
            payload = message_payload(row, hide_text=mine.hide_text, unread=badge)
            if self._push.send(user_id, payload, urgent=True):
                self._remember(user_id, room_id, message_id, row["thread_id"])

    def _remember(self, user_id: int, room_id: int, message_id: int, thread: int | None) -> None:
        key = (user_id, room_id)
        self._pushed.setdefault(key, {})[message_id] = thread
        self._pushed.move_to_end(key)
        while len(self._pushed) > MAX_REMEMBERED:
            self._pushed.popitem(last=False)


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("web push 'read' failed", exc_info=task.exception())
