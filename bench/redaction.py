"""What "deleted means deleted" costs: one message deletion on a database of N messages.

For each size: the search index's size, the deletion's write (tombstone, redaction of its
earlier events through the `events_message` index, its own event) and the scrub that
follows before the reply (search index merged a slice at a time, log checkpointed and
truncated: `appliance.chat.redaction`). Runs in-process on the real `Database`, with the
real migrations, on a temp folder; prints a table.

    .venv/bin/python bench/redaction.py --sizes 10000 100000 300000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from appliance.chat import redaction
from appliance.db import SqliteDatabase, Tx, migration_scripts
from appliance.storage import messages, search_index

WORDS = [
    "".join(random.Random(i).choice("abcdefghijklmnopqrstuvwxyz") for _ in range(2 + i % 8))
    for i in range(20_000)
]


def build(path: Path, count: int) -> None:
    """Messages as the server stores them: a row, its index entry and its message.new."""
    rng = random.Random(count)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    for version, sql in migration_scripts():
        conn.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version={version};\nCOMMIT;")
    conn.execute(
        "INSERT INTO users(username, display_name, password_hash, created_at)"
        " VALUES ('a', 'a', 'x', 0)"
    )
    conn.execute("INSERT INTO rooms(kind, name, created_at) VALUES ('channel', 'general', 0)")
    conn.execute("BEGIN")
    for i in range(1, count + 1):
        body = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 20)))
        conn.execute(
            "INSERT INTO messages(id, room_id, author_id, body, created_at) VALUES (?, 1, 1, ?, ?)",
            (i, body, i),
        )
        message: dict[str, Any] = {"id": i, "room": 1, "author": 1, "thread": None}
        message |= {"body": body, "attachments": [], "created_at": i, "edited_at": None}
        message |= {"deleted": False, "reactions": {}, "mentions": [], "mention_room": False}
        conn.execute(
            "INSERT INTO events(kind, room_id, data, created_at) VALUES ('message.new', 1, ?, ?)",
            (json.dumps({"message": message}), i),
        )
        if i % 200 == 0:  # the server commits in small batches: many index segments
            conn.execute("COMMIT")
            conn.execute("BEGIN")
    conn.execute("COMMIT")
    conn.close()


async def measure(path: Path, count: int) -> tuple[int, float, float]:
    db = SqliteDatabase(path)
    await db.open()
    try:
        pages = await search_index.pages(db)
        target = count // 2
        start = time.perf_counter()

        async def delete(tx: Tx) -> None:
            await messages.tombstone(tx, target, 1)
            row = await messages.get(tx, target)
            assert row is not None
            message = (await messages.hydrate(tx, [row]))[0]
            await redaction.redact(tx, message)
            await tx.emit("message.delete", 1, {"message": message}, 1)

        await db.write(delete)
        written = time.perf_counter() - start
        start = time.perf_counter()
        await redaction.Scrubber(db).scrub()
        scrubbed = time.perf_counter() - start
        return pages, written, scrubbed
    finally:
        await db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args()
    print(f"sqlite {sqlite3.sqlite_version}")
    print(f"{'messages':>9} {'index MB':>9} {'delete write ms':>16} {'scrub ms':>9}")
    for count in args.sizes:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "pychat.db"
            build(path, count)
            pages, written, scrubbed = asyncio.run(measure(path, count))
            size_mb, written_ms, scrubbed_ms = pages * 4096 / 1e6, written * 1e3, scrubbed * 1e3
            print(f"{count:>9} {size_mb:>9.1f} {written_ms:>16.1f} {scrubbed_ms:>9.1f}")


if __name__ == "__main__":
    main()
