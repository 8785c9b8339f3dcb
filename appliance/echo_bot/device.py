"""The bot's virtual device: a hub connection without a socket.

Registered in the hub like a browser tab, so `hub.connection(id)` finds it for
`rtc.signal`, and calls ring and update it; frames addressed to it go to `on_frame`
instead of a WebSocket. Broadcasts (events, presence, typing) are of no use to a bot and
are dropped.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from ..connection import Connection, next_connection_id

log = logging.getLogger(__name__)

Frame = dict[str, Any]


class BotDevice(Connection):
    def __init__(self, user_id: int, on_frame: Callable[[Frame], None]) -> None:
        # No socket: none of Connection's transport state applies (deliberately no super()).
        self.id = next_connection_id()
        self.user_id = user_id
        self.session_id = 0
        self.address = "in-process"
        self.buffer_limit = 0
        self.live = True
        self.closed = False
        self.frame_tokens = 0.0
        self.frame_stamp = 0.0
        self._on_frame = on_frame

    def send(self, payload: bytes) -> None:
        if self.closed:
            return
        try:
            self._on_frame(json.loads(payload))
        except Exception:
            log.exception("echo bot failed on a frame")

    def write_frame(self, frame: bytes) -> None:
        pass  # broadcasts: nothing for the bot

    def deliver(self, seq: int, frame: bytes) -> None:
        pass  # durable events: the bot keeps no history

    async def send_paced(self, payload: bytes) -> None:
        pass

    def close(self, code: int, reason: str) -> None:
        self.closed = True  # an admin deactivated Echo, or the server stops
