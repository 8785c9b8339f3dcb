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


async def optimize(tx: Tx) -> None:
    """All segments into one, in one go."""
    await tx.execute("INSERT INTO messages_fts(messages_fts) VALUES ('optimize')")
