"""The only place that speaks SQL. Functions take a `Reader` (the database or a Tx)."""

from __future__ import annotations

import sqlite3
from typing import Protocol

from ..db import Params


class Reader(Protocol):
    async def fetchone(self, sql: str, params: Params = ()) -> sqlite3.Row | None: ...

    async def fetchall(self, sql: str, params: Params = ()) -> list[sqlite3.Row]: ...


def placeholders(count: int) -> str:
    return ",".join("?" * count)
