"""Storage's SQL, written in SQLite's spelling, as PostgreSQL takes it.

Only what is mechanical is done here: parameters (`?` and `:name` become `$1`, `$2`...) and
SQLite's index hints (`INDEXED BY`, which PostgreSQL's planner does without). Statements
whose meaning differs between the engines ask `dialect` in storage (storage/dialect.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, NamedTuple

from ..engine import Params

# A quoted string or name (skipped whole), a cast (`::`, kept), a parameter, an index hint.
_TOKEN = re.compile(
    r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|::|\?|:([A-Za-z_][A-Za-z0-9_]*)|\s+INDEXED\s+BY\s+\w+""",
    re.IGNORECASE,
)


class Translated(NamedTuple):
    sql: str
    names: tuple[str, ...] | None  # for `:name` parameters, the name of each `$n`


@lru_cache(maxsize=2048)
def translate(sql: str) -> Translated:
    """`sql` with PostgreSQL's parameters. Mixing `?` and `:name` is refused, as SQLite does."""
    names: list[str] = []
    positional = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal positional
        found = match.group(0)
        if found == "?":
            positional += 1
            return f"${positional}"
        if name := match.group(1):
            if name not in names:
                names.append(name)
            return f"${names.index(name) + 1}"
        if found[0] in "'\":":
            return found
        return ""  # INDEXED BY

    out = _TOKEN.sub(replace, sql)
    if positional and names:
        raise ValueError("a statement mixes ? and :name parameters")
    return Translated(out, tuple(names) if names else None)


def arguments(translated: Translated, params: Params) -> tuple[Any, ...]:
    """The values for `translated`'s `$n`, from a sequence or (for `:name`) a mapping."""
    if translated.names is None:
        return tuple(params)
    assert isinstance(params, Mapping), "named parameters take a mapping"
    return tuple(params[name] for name in translated.names)
