"""Bare group-commit SQLite writer: the durability floor the real server is compared with.

One `sqlite3` connection in one thread (WAL, synchronous=FULL by default). Whatever arrived
while the previous commit was running goes into the next transaction: one fsync per batch.
Each message writes rows equivalent to Pychat's: a `messages` row (same columns, indexes and
FTS5 trigger as appliance/migrations/0001_initial.sql) and an `events` row holding the JSON
of the `message.new` event. No membership checks, no mentions, no client_id lookups.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY, room_id INTEGER NOT NULL, author_id INTEGER NOT NULL,
    thread_id INTEGER, body TEXT NOT NULL, client_id TEXT, created_at INTEGER NOT NULL,
    edited_at INTEGER, deleted INTEGER NOT NULL DEFAULT 0,
    mention_room INTEGER NOT NULL DEFAULT 0) STRICT;
CREATE INDEX IF NOT EXISTS messages_timeline ON messages(room_id, id) WHERE thread_id IS NULL;
CREATE UNIQUE INDEX IF NOT EXISTS messages_client_id ON messages(author_id, client_id)
    WHERE client_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, room_id INTEGER,
    user_id INTEGER, data TEXT NOT NULL, created_at INTEGER NOT NULL) STRICT;
CREATE VIRTUAL TABLE IF NOT EXISTS messages_fts USING fts5(
    body, content='messages', content_rowid='id', tokenize='unicode61 remove_diacritics 2');
CREATE TRIGGER IF NOT EXISTS messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts(rowid, body) VALUES (new.id, new.body);
END;
"""

INSERT_MESSAGE = (
    "INSERT INTO messages(room_id, author_id, thread_id, body, client_id, created_at, mention_room)"
    " VALUES (?, ?, NULL, ?, ?, ?, 0) ON CONFLICT DO NOTHING RETURNING id"
)
INSERT_EVENT = (
    "INSERT INTO events(kind, room_id, user_id, data, created_at)"
    " VALUES (?, ?, NULL, ?, ?) RETURNING seq"
)

Job = tuple[int, int, str, str | None, int]  # room, author, body, client_id, created_at ms
Result = tuple[int, dict[str, Any]]  # seq, message


def message_dict(
    mid: int, room: int, author: int, body: str, cid: str | None, now: int
) -> dict[str, Any]:
    return {
        "id": mid,
        "room": room,
        "author": author,
        "thread": None,
        "body": body,
        "attachments": [],
        "created_at": now,
        "edited_at": None,
        "deleted": False,
        "client_id": cid,
        "reply_count": 0,
        "reactions": {},
        "mentions": [],
    }


class GroupCommitWriter:
    def __init__(self, path: Path, synchronous: str = "FULL") -> None:
        self.path = path
        self.synchronous = synchronous
        self.loop = asyncio.get_running_loop()
        self.cond = threading.Condition()
        self.pending: list[tuple[Job, asyncio.Future[Result]]] = []
        self.stopping = False
        self.batches = 0
        self.rows = 0
        self.thread = threading.Thread(target=self._run, name="bare-writer", daemon=True)
        self.thread.start()

    async def write(self, job: Job) -> Result:
        fut: asyncio.Future[Result] = self.loop.create_future()
        with self.cond:
            self.pending.append((job, fut))
            self.cond.notify()
        return await fut

    def close(self) -> None:
        with self.cond:
            self.stopping = True
            self.cond.notify()
        self.thread.join(10)

    def _run(self) -> None:
        con = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute(f"PRAGMA synchronous={self.synchronous}")
        con.executescript(SCHEMA)
        while True:
            with self.cond:
                while not self.pending and not self.stopping:
                    self.cond.wait()
                if not self.pending and self.stopping:
                    break
                batch, self.pending = self.pending, []
            results: list[Result | BaseException] = []
            try:
                con.execute("BEGIN IMMEDIATE")
                for (room, author, body, cid, now), _fut in batch:
                    row = con.execute(INSERT_MESSAGE, (room, author, body, cid, now)).fetchone()
                    if row is None:
                        results.append(ValueError("duplicate client_id"))
                        continue
                    msg = message_dict(row[0], room, author, body, cid, now)
                    data = json.dumps({"message": msg}, separators=(",", ":"), ensure_ascii=False)
                    seq = con.execute(INSERT_EVENT, ("message.new", room, data, now)).fetchone()[0]
                    results.append((seq, msg))
                con.execute("COMMIT")
            except sqlite3.Error as exc:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                results = [exc] * len(batch)
            self.batches += 1
            self.rows += len(batch)
            self.loop.call_soon_threadsafe(self._settle, batch, results)
        con.close()

    @staticmethod
    def _settle(
        batch: list[tuple[Job, asyncio.Future[Result]]], results: list[Result | BaseException]
    ) -> None:
        for (_job, fut), res in zip(batch, results, strict=True):
            if fut.done():
                continue
            if isinstance(res, BaseException):
                fut.set_exception(res)
            else:
                fut.set_result(res)
