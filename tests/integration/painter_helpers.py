"""Small helpers shared by the painter's integration tests."""

from __future__ import annotations

import uuid
from typing import Any

from tests.client import Socket


def stroke(*points: float, color: str = "#d03030", size: float = 4, **extra: Any) -> dict[str, Any]:
    return {
        "id": uuid.uuid4().hex,
        "kind": "stroke",
        "color": color,
        "size": size,
        "points": list(points),
        **extra,
    }


def paint_op(frame: dict[str, Any]) -> bool:
    return frame.get("type") == "paint.op"


def conn_of(sock: Socket) -> int:
    return int(sock.hello_reply["data"]["conn"])


async def open_board(sock: Socket, room: int) -> dict[str, Any]:
    """The whole board (every page), as {seq, ops}."""
    opened = await sock.ok({"type": "paint.open", "room": room})
    board = opened["board"]
    ops, after = list(board["ops"]), board["next"]
    while after is not None:
        page = await sock.ok(
            {"type": "paint.ops", "room": room, "after": after, "until": board["seq"]}
        )
        ops += page["ops"]
        after = page["next"]
    return {"seq": board["seq"], "ops": ops, "viewers": opened["viewers"]}
