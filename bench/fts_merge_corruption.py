"""Reproduces the search-index corruption bench/soak.py found (issue 19), with plain
`sqlite3` and nothing of Pychat but its schema: FTS5 `('merge', -N)` run step by step, as
each delete's or edit's scrub did until it was fixed (chat/redaction.py now merges in one
write), while new messages add segments between the steps. On SQLite 3.40.1 (Debian 12) the
index breaks at 32,662 messages with seed 1 (`database disk image is malformed`; `PRAGMA
integrity_check` still says ok). `--positive` runs `('merge', +N)` instead: clean after
87,772 (all 8,000 commits). Also clean on 3.40.1: the same steps with no write between them,
or only the final `optimize` (84,446 messages each); and the steps with writes between them
on SQLite 3.50.4 (sqlean.py), which no longer corrupts.

    .venv/bin/python bench/fts_merge_corruption.py [--positive] [--seed N]
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import tempfile
from pathlib import Path

SCHEMA = """
CREATE TABLE messages(id INTEGER PRIMARY KEY, body TEXT NOT NULL);
CREATE VIRTUAL TABLE messages_fts USING fts5(
    body, content='messages', content_rowid='id', tokenize='unicode61 remove_diacritics 2',
    prefix='1 2 3', detail='none');
CREATE TRIGGER fi AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts(rowid, body) VALUES (new.id, new.body); END;
CREATE TRIGGER fu AFTER UPDATE OF body ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, body) VALUES ('delete', old.id, old.body);
    INSERT INTO messages_fts(rowid, body) VALUES (new.id, new.body); END;
"""


def run(path: Path, seed: int, sign: int, batches: int) -> str:
    c = sqlite3.connect(path, isolation_level=None)
    c.execute("PRAGMA journal_mode=WAL")
    c.execute("PRAGMA secure_delete=ON")
    c.executescript(SCHEMA)
    rng = random.Random(seed)
    n = 0

    def send(tx_size: int) -> None:
        nonlocal n
        for _ in range(tx_size):
            n += 1
            body = f"tok{n}x{rng.getrandbits(32):08x} soak message {n} from k{rng.randrange(60)}"
            c.execute("INSERT INTO messages(body) VALUES (?)", (body,))

    try:
        for batch in range(batches):
            c.execute("BEGIN IMMEDIATE")
            send(rng.randint(1, 20))
            if rng.random() < 0.1:  # an edit or a delete (a tombstone empties the body)
                mid = rng.randint(max(1, n - 2000), n)
                body = f"edited{mid}" if rng.random() < 0.5 else ""
                c.execute("UPDATE messages SET body = ? WHERE id = ?", (body, mid))
            c.execute("COMMIT")
            if rng.random() < 0.1:  # its scrub: merge steps with other writes in between
                pages = c.execute("SELECT count(*) FROM messages_fts_data").fetchone()[0]
                for _ in range(2 * (pages // 256) + 4):
                    c.execute("BEGIN IMMEDIATE")
                    send(rng.randint(0, 5))
                    c.execute("COMMIT")
                    c.execute("BEGIN IMMEDIATE")
                    before = c.total_changes
                    c.execute(
                        "INSERT INTO messages_fts(messages_fts, rank) VALUES ('merge', ?)",
                        (sign * 256,),
                    )
                    merged = c.total_changes - before >= 2
                    c.execute("COMMIT")
                    if not merged:
                        break
                c.execute("INSERT INTO messages_fts(messages_fts) VALUES ('optimize')")
            if batch % 100 == 0:
                c.execute(
                    "INSERT INTO messages_fts(messages_fts, rank) VALUES('integrity-check', 1)"
                )
    except sqlite3.DatabaseError as exc:
        return f"CORRUPT at {n:,} messages: {exc}"
    finally:
        c.close()
    return f"clean after {n:,} messages"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--positive", action="store_true", help="('merge', +256) instead of -256")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--batches", type=int, default=8000)
    args = ap.parse_args()
    print(f"SQLite {sqlite3.sqlite_version}")
    with tempfile.TemporaryDirectory() as tmp:
        sign = 1 if args.positive else -1
        print(run(Path(tmp) / "fts.db", args.seed, sign, args.batches))


if __name__ == "__main__":
    main()
