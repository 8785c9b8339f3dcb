"""How long the server's repair of a corrupt search index holds the writer (issue 19): the
index emptied and rebuilt from `messages` (appliance/db_index_repair.py), at a given number
of messages, beside two bare references on the same file in the same run:

- reading every message's text once (the floor any rebuild pays);
- SQLite building a fresh FTS5 table of the same shape from the same rows (`'rebuild'` on
  an empty table: what FTS5 itself costs, without our emptying of the old index).

Also the write-ahead log the repair leaves (it is one transaction: a Pi's card takes it all).

    .venv/bin/python bench/fts_rebuild.py [--messages 1000000]
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from appliance.db import migration_scripts
from appliance.db_index_repair import rebuild_alone

WORDS = [
    *["deploy", "build", "review", "the", "a", "to", "of", "meeting", "lunch", "release"],
    *["notes", "draft", "please", "check", "staging", "ticket", "customer", "invoice"],
    *["server", "backup", "tomorrow", "today", "thanks", "ok", "done"],
]
BARE = """CREATE VIRTUAL TABLE bare_fts USING fts5(
    body, content='messages', content_rowid='id', tokenize='unicode61 remove_diacritics 2',
    prefix='1 2 3', detail='none')"""


def fill(conn: sqlite3.Connection, count: int) -> None:
    rng = random.Random(19)
    conn.execute(
        "INSERT INTO users(username, display_name, password_hash, created_at)"
        " VALUES ('a', 'a', 'x', 0)"
    )
    conn.execute("INSERT INTO rooms(kind, name, created_at) VALUES ('channel', 'general', 0)")
    done = 0
    while done < count:
        rows = []
        for n in range(done, min(count, done + 10_000)):
            words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 14)))
            rows.append((f"{words} #{n}", n))
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO messages(room_id, author_id, body, created_at) VALUES (1, 1, ?, ?)", rows
        )
        conn.execute("COMMIT")
        done += len(rows)


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=1_000_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="fts-rebuild-") as folder:
        path = Path(folder) / "pychat.db"
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA secure_delete=ON")  # as the server runs
        for version, sql in migration_scripts():
            conn.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version={version};\nCOMMIT;")
        print(f"filling {args.messages:,} messages …", flush=True)
        fill(conn, args.messages)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

        read = timed(lambda: conn.execute("SELECT sum(length(body)) FROM messages").fetchone())
        conn.execute(BARE)
        bare = timed(lambda: conn.execute("INSERT INTO bare_fts(bare_fts) VALUES ('rebuild')"))
        conn.execute("DROP TABLE bare_fts")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

        ours = rebuild_alone(conn)
        wal = (path.with_name(path.name + "-wal")).stat().st_size
        conn.execute("INSERT INTO messages_fts(messages_fts, rank) VALUES ('integrity-check', 1)")
        conn.close()

    print(f"\nSQLite {sqlite3.sqlite_version}, {args.messages:,} messages")
    print(f"{'':44}{'seconds':>9}")
    print(f"{'bare: read every message once':44}{read:9.2f}")
    print(f"{'bare: FTS5 builds a fresh table of them':44}{bare:9.2f}")
    print(f"{'Pychat: the repair (emptied, rebuilt)':44}{ours:9.2f}")
    print(f"write-ahead log after the repair: {wal / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
