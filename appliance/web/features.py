"""The WebSocket commands of each feature, gathered into one table (one line per feature)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import ws_calls, ws_paint, ws_signal
from .commands import Spec

if TYPE_CHECKING:
    from ..state.services import Services


def feature_commands(svc: Services) -> dict[str, Spec]:
    table: dict[str, Spec] = {}
    table |= ws_signal.commands(svc)
    table |= ws_calls.commands(svc)
    table |= ws_paint.commands(svc)
    return table
