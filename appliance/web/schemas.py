"""Validating client input before anything reads it: one small vocabulary of field kinds.

`validate(SPEC, obj)` returns a dict with exactly the spec's keys (optional ones absent when
not given) or raises BadRequest naming the field.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import BadRequest, NotFound

MAX_ID = (1 << 63) - 1


@dataclass(frozen=True)
class Field:
    check: Callable[[str, Any], Any]
    required: bool = True
    nullable: bool = False


def _id(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        raise BadRequest(f"{name} must be a positive integer id.")
    return value


def _seq(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_ID:
        raise BadRequest(f"{name} must be a non-negative integer.")
    return value


def _bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise BadRequest(f"{name} must be true or false.")
    return value


def text(max_chars: int) -> Callable[[str, Any], str]:
    def check(name: str, value: Any) -> str:
        if not isinstance(value, str):
            raise BadRequest(f"{name} must be a string.")
        if len(value) > max_chars:
            raise BadRequest(f"{name} may have at most {max_chars} characters.")
        return value

    return check


def int_range(low: int, high: int) -> Callable[[str, Any], int]:
    def check(name: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise BadRequest(f"{name} must be an integer from {low} to {high}.")
        return value

    return check


def id_list(max_items: int) -> Callable[[str, Any], list[int]]:
    def check(name: str, value: Any) -> list[int]:
        if not isinstance(value, list) or len(value) > max_items:
            raise BadRequest(f"{name} must be a list of at most {max_items} ids.")
        return [_id(f"{name}[]", v) for v in value]

    return check


def json_object(name: str, value: Any) -> dict[str, Any]:
    """An opaque JSON object passed through (its size is bounded by the frame limit)."""
    if not isinstance(value, dict):
        raise BadRequest(f"{name} must be an object.")
    if not _all_finite(value):
        # 1e999 reads as Infinity, which is not JSON: no browser could read it relayed.
        raise BadRequest(f"{name} has a number too large to represent.")
    return value


def _all_finite(value: Any) -> bool:
    stack = [value]  # iterative: the object may be nested as deep as the parser allows
    while stack:
        item = stack.pop()
        if isinstance(item, float):
            if not math.isfinite(item):
                return False
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True


ID = Field(_id)
SEQ = Field(_seq)
BOOL = Field(_bool)


def optional(f: Field, *, nullable: bool = False) -> Field:
    return Field(f.check, required=False, nullable=nullable)


def validate(
    spec: dict[str, Field], obj: Any, *, ignore: frozenset[str] = frozenset()
) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise BadRequest("Expected a JSON object.")
    unknown = set(obj) - set(spec) - ignore
    if unknown:
        raise BadRequest(f"Unknown field: {sorted(unknown)[0][:64]}.")
    out: dict[str, Any] = {}
    for name, f in spec.items():
        if name not in obj:
            if f.required:
                raise BadRequest(f"{name} is required.")
            continue
        value = obj[name]
        if value is None and f.nullable:
            out[name] = None
        else:
            out[name] = f.check(name, value)
    return out


def ascii_int(raw: str, max_digits: int) -> int | None:
    """`raw` as a non-negative integer if it is 1 to `max_digits` ASCII digits, else None.
    (str.isdigit() also accepts '²', which int() refuses, and Arabic-Indic digits, which
    int() reads as numbers.)"""
    if not 0 < len(raw) <= max_digits or not raw.isascii() or not raw.isdigit():
        return None
    return int(raw)


def path_id(raw: str) -> int:
    """An id from the URL path: anything but a positive decimal number is nothing here."""
    value = ascii_int(raw, 18)
    if not value:
        raise NotFound("Nothing here.")
    return value


def query_int(query: Any, name: str, low: int, high: int, default: int | None) -> int | None:
    """An integer from the query string, within bounds."""
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    value = ascii_int(raw, 19)
    if value is None or not low <= value <= high:
        raise BadRequest(f"{name} must be an integer from {low} to {high}.")
    return value
