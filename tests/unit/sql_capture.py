"""A reader that keeps the SQL a storage function would run: query-plan tests run that SQL
through EXPLAIN QUERY PLAN on a real database."""

from __future__ import annotations

from typing import Any


class Capture:
    """A reader that keeps the SQL a storage function would run, and returns nothing."""

    sql = ""
    params: Any = ()
    dialect = "sqlite"  # the SQL an appliance runs

    async def fetchall(self, sql: str, params: Any = ()) -> list[Any]:
        self.sql, self.params = sql, params
        return []
