"""Breaking the search index under a running server, as SQLite 3.40's FTS5 broke it under the
soak (issue 19), only faster: FTS5's structure record is overwritten by another connection,
which leaves the index unreadable (SQLITE_CORRUPT_VTAB) as the corruption did."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def break_search_index(db_path: Path) -> None:
    with sqlite3.connect(db_path) as conn:
        conn.execute("UPDATE messages_fts_data SET block = X'0102030405' WHERE id = 10")
    with sqlite3.connect(db_path) as conn:
        try:
            conn.execute("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'x'")
        except sqlite3.DatabaseError as error:
            assert getattr(error, "sqlite_errorname", "") == "SQLITE_CORRUPT_VTAB", error
        else:
            raise AssertionError("the index did not break")
