"""Checking a drawing operation from a client and putting it in its one stored form.

Pure: no I/O, no clock. Every op has a client-made `id` (a retry sends the same one) and
a `kind`; the server adds `author` and, once stored, `seq`. Coordinates are board units
(the canvas at zoom 1), finite numbers within ±COORD_LIMIT.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from ..errors import BadRequest, TooLarge

COORD_LIMIT = 1_000_000
MAX_SIZE = 400  # pen width or font size, in board units
MAX_TEXT_CHARS = 500
OP_ID = re.compile(r"[\x21-\x7e]{1,64}")
COLOR = re.compile(r"#[0-9a-f]{6}")
# Raster images only: an SVG could carry script.
DATA_URL = re.compile(r"data:image/(?:png|jpeg|webp|gif);base64,[A-Za-z0-9+/]+={0,2}")

DRAWN = frozenset({"stroke", "line", "rect", "ellipse", "arrow", "text", "image", "clear"})
HISTORY = frozenset({"undo", "redo"})  # hide or show an earlier op, by id
SHAPES = frozenset({"line", "rect", "ellipse", "arrow"})


@dataclass(frozen=True)
class OpLimits:
    max_points: int  # per stroke
    image_chars: int  # length of an image's data URL


def check_id(name: str, value: Any) -> str:
    if not isinstance(value, str) or not OP_ID.fullmatch(value):
        raise BadRequest(f"{name} must be 1–64 printable ASCII characters.")
    return value


def check_number(name: str, value: Any) -> float | int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or abs(value) > COORD_LIMIT
    ):
        raise BadRequest(f"{name} must be a number from -{COORD_LIMIT} to {COORD_LIMIT}.")
    return value


def check_color(name: str, value: Any) -> str:
    if not isinstance(value, str) or not COLOR.fullmatch(value):
        raise BadRequest(f"{name} must be a colour like #1a2b3c (lower case).")
    return value


def check_size(name: str, value: Any) -> int | float:
    number = check_number(name, value)
    if not 0.5 <= number <= MAX_SIZE:
        raise BadRequest(f"{name} must be from 0.5 to {MAX_SIZE}.")
    return number


def check_points(name: str, value: Any, *, low: int, high: int) -> list[float | int]:
    """A flat list [x0, y0, x1, y1, ...] of `low` to `high` points."""
    if not isinstance(value, list) or len(value) % 2:
        raise BadRequest(f"{name} must be a flat list of x, y pairs.")
    if len(value) > 2 * high:
        raise TooLarge(f"{name} may have at most {high} points.")
    if len(value) < 2 * low:
        raise BadRequest(f"{name} needs at least {low} point{'s' if low > 1 else ''}.")
    return [check_number(f"{name}[]", v) for v in value]


def _fields(raw: dict[str, Any], allowed: set[str]) -> None:
    unknown = set(raw) - allowed
    if unknown:
        raise BadRequest(f"Unknown field in op: {sorted(unknown)[0][:64]}.")
    for name in allowed - {"erase", "fill"}:
        if name not in raw:
            raise BadRequest(f"op.{name} is required.")


def _flag(raw: dict[str, Any], name: str) -> bool:
    value = raw.get(name, False)
    if not isinstance(value, bool):
        raise BadRequest(f"op.{name} must be true or false.")
    return value


def parse(raw: Any, author: int, limits: OpLimits) -> dict[str, Any]:
    """The op as stored (without `seq`), or BadRequest / TooLarge naming what is wrong."""
    if not isinstance(raw, dict):
        raise BadRequest("op must be an object.")
    kind = raw.get("kind")
    if not isinstance(kind, str) or kind not in DRAWN | HISTORY:
        raise BadRequest("op.kind must be one of " + ", ".join(sorted(DRAWN | HISTORY)) + ".")
    op: dict[str, Any] = {"id": check_id("op.id", raw.get("id")), "kind": kind, "author": author}
    base = {"id", "kind"}
    if kind == "stroke":
        _fields(raw, base | {"color", "size", "points", "erase"})
        op["color"] = check_color("op.color", raw["color"])
        op["size"] = check_size("op.size", raw["size"])
        op["points"] = check_points("op.points", raw["points"], low=1, high=limits.max_points)
        if _flag(raw, "erase"):
            op["erase"] = True
    elif kind in SHAPES:
        _fields(raw, base | {"color", "size", "points", "fill"})
        op["color"] = check_color("op.color", raw["color"])
        op["size"] = check_size("op.size", raw["size"])
        op["points"] = check_points("op.points", raw["points"], low=2, high=2)
        if _flag(raw, "fill") and kind in ("rect", "ellipse"):
            op["fill"] = True
    elif kind == "text":
        _fields(raw, base | {"color", "size", "points", "text"})
        op["color"] = check_color("op.color", raw["color"])
        op["size"] = check_size("op.size", raw["size"])
        op["points"] = check_points("op.points", raw["points"], low=1, high=1)
        op["text"] = _text(raw["text"])
    elif kind == "image":
        _fields(raw, base | {"points", "src"})
        points = check_points("op.points", raw["points"], low=2, high=2)  # x, y, width, height
        if points[2] <= 0 or points[3] <= 0:
            raise BadRequest("op.points of an image are x, y, width, height (both above 0).")
        op["points"] = points
        op["src"] = _image(raw["src"], limits.image_chars)
    elif kind in HISTORY:
        _fields(raw, base | {"target"})
        op["target"] = check_id("op.target", raw["target"])
    else:  # clear
        _fields(raw, base)
    return op


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BadRequest("op.text must be some text.")
    if len(value) > MAX_TEXT_CHARS:
        raise TooLarge(f"op.text may have at most {MAX_TEXT_CHARS} characters.")
    if any(ord(c) < 32 and c != "\n" for c in value):
        raise BadRequest("op.text may not contain control characters.")
    return value


def _image(value: Any, max_chars: int) -> str:
    if not isinstance(value, str):
        raise BadRequest("op.src must be a data URL.")
    if len(value) > max_chars:
        raise TooLarge(f"An image on the board may have at most {max_chars} characters.")
    if not DATA_URL.fullmatch(value):
        raise BadRequest("op.src must be a base64 data URL of a PNG, JPEG, WebP or GIF image.")
    return value


def visible(ops: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What is drawn, in order: ops not hidden by undo (or shown again by redo), after the
    last `clear` still in effect. The SPA renders by the same rule (src/painter/ops.ts)."""
    hidden: set[str] = set()
    for op in ops:
        if op["kind"] == "undo":
            hidden.add(op["target"])
        elif op["kind"] == "redo":
            hidden.discard(op["target"])
    drawn = [op for op in ops if op["kind"] not in HISTORY and op["id"] not in hidden]
    last_clear = max((i for i, op in enumerate(drawn) if op["kind"] == "clear"), default=-1)
    return drawn[last_clear + 1 :]
