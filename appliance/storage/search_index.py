"""The full-text index of messages (`messages_fts`, FTS5), and purging what it removed.

FTS5 deletes by writing a delete marker into a new segment: the removed words stay in the
older segments, and so in the database file and its backups, until the segments holding
them are merged. SQLite 3.40 has no `secure-delete` option for FTS5, so a merge it is.
"""

from __future__ import annotations

from ..db import Tx
from . import Reader


async def pages(db: Reader) -> int:
    """Rows (about one 4 KB page each) the index is stored in."""
    row = await db.fetchone("SELECT count(*) FROM messages_fts_data")
    return int(row[0]) if row else 0


async def merge_step(tx: Tx, pages_at_most: int) -> bool:
    """Merge every segment towards one, writing about `pages_at_most` pages; False once
    there was nothing left to merge (one segment: no removed word survives)."""
    before = await tx.fetchone("SELECT total_changes()")
    await tx.execute(
        "INSERT INTO messages_fts(messages_fts, rank) VALUES ('merge', ?)", (-pages_at_most,)
    )
    after = await tx.fetchone("SELECT total_changes()")
    assert before is not None and after is not None
    # FTS5's documented test: a merge that did any work changes at least two rows.
    return int(after[0]) - int(before[0]) >= 2


async def optimize(tx: Tx) -> None:
    """All segments into one, in one go."""
    await tx.execute("INSERT INTO messages_fts(messages_fts) VALUES ('optimize')")
