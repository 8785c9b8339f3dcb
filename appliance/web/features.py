"""The WebSocket commands of each feature, gathered into one table (one line per feature)."""

from __future__ import annotations

from ..chat.services import Services
from . import ws_signal
from .commands import Spec


def feature_commands(svc: Services) -> dict[str, Spec]:
    table: dict[str, Spec] = {}
    table |= ws_signal.commands(svc)
    return table
