"""The painter's boards across nodes: ops, live strokes and cursors, and who is viewing.

The database orders a board's ops: an op is stored only on top of the seq its node holds
(storage/boards.py `save_op`), so two nodes never give two ops one seq; the one that came
second loads the board again and plans its op anew (painter/live_boards.py). What the
others must hear goes on `CHANNEL`, through the link's ordered outbox:
- `add`: an op, with the plan it was stored by (its seq, and the ops it folded away), so
  a node holding the board applies it as its own, when it is the next one; otherwise the
  node loads the board again before it next uses it;
- `relay`: a stroke being drawn or a cursor, for the viewers on the other nodes;
- `viewers`: the viewers a node holds (sent when they change), `who`: asked by a node
  that has just opened a board. A killed node's viewers go with its devices (devices.py).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from ..painter.board import Plan
from ..painter.live_boards import Painter

log = logging.getLogger(__name__)

CHANNEL = "pychat:paint"


class PaintLink:
    def __init__(self, node: int, painter: Painter, publish: Callable[[str, str], None]) -> None:
        self.node = node
        self._painter = painter
        self._publish = publish

    # -- out (the painter's `OtherNodes`) --------------------------------------------------

    def op_added(self, room_id: int, plan: Plan) -> None:
        stored = {
            "seq": plan.seq,
            "op": plan.op,
            "text": plan.text,
            "store": plan.store,
            "drop": list(plan.drop),
        }
        self._say({"do": "add", "room": room_id, "plan": stored})

    def relay(self, room_id: int, data: bytes) -> None:
        self._say({"do": "relay", "room": room_id, "data": data.decode()})

    def viewers_here(self, room_id: int, viewers: list[dict[str, int]]) -> None:
        self._say({"do": "viewers", "room": room_id, "viewers": viewers})

    def ask_viewers(self, room_id: int) -> None:
        self._say({"do": "who", "room": room_id})

    def _say(self, message: dict[str, Any]) -> None:
        self._publish(CHANNEL, json.dumps({"node": self.node, **message}, separators=(",", ":")))

    # -- in --------------------------------------------------------------------------------

    def received(self, text: str) -> None:
        try:
            message = json.loads(text)
            if int(message["node"]) == self.node:
                return
            room, do = int(message["room"]), message["do"]
            if do == "add":
                raw = message["plan"]
                plan = Plan(
                    int(raw["seq"]),
                    dict(raw["op"]),
                    str(raw["text"]),
                    bool(raw["store"]),
                    tuple(int(seq) for seq in raw["drop"]),
                )
                self._painter.remote_op(room, plan)
            elif do == "relay":
                self._painter.remote_relay(room, str(message["data"]).encode())
            elif do == "viewers":
                viewers = [
                    {"user": int(v["user"]), "conn": int(v["conn"])} for v in message["viewers"]
                ]
                self._painter.remote_viewers_changed(room, int(message["node"]), viewers)
            elif do == "who":
                self._painter.viewers_asked(room)
        except (ValueError, KeyError, TypeError):
            log.warning("a malformed message on %s was ignored", CHANNEL)
