"""What a WebSocket command is: its field schema and the coroutine that runs it.

Features (calls, painter, uploads) define their own tables of these; `features.py`
gathers them into the one command table `ws.py` dispatches from.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..connection import Connection
from . import schemas as s

if TYPE_CHECKING:
    from ..state.services import Services

Command = Callable[["Services", Connection, dict[str, Any]], Awaitable[dict[str, Any] | None]]


@dataclass(frozen=True)
class Spec:
    fields: dict[str, s.Field]
    run: Command
    inline: bool = False  # handled in order on the reading loop (hello), not concurrently


def only_if_asked(p: dict[str, Any]) -> dict[str, Any] | None:
    """Fire-and-forget frames get a reply only when they carry a `req`."""
    return {} if p.get("_req") is not None else None
