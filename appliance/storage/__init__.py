"""The only place that speaks SQL. Functions take a `Reader` (the database or a Tx)."""

from __future__ import annotations

from ..db import Reader

__all__ = ["Reader", "placeholders"]


def placeholders(count: int) -> str:
    return ",".join("?" * count)
