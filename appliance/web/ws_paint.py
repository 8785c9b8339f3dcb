"""`paint.*`: the shared drawing board of a room (docs/api/painter.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..connection import Connection
from ..painter import ops as paint_ops
from . import schemas as s
from .commands import Spec, only_if_asked

if TYPE_CHECKING:
    from ..state.services import Services

MAX_LIVE_POINTS = 200  # points in one piece of a stroke being drawn


def _number(name: str, value: Any) -> float | int:
    return paint_ops.check_number(name, value)


def _live_points(name: str, value: Any) -> list[float | int]:
    return paint_ops.check_points(name, value, low=1, high=MAX_LIVE_POINTS)


def commands(svc: Services) -> dict[str, Spec]:
    painter = svc.painter

    async def open_board(svc: Services, conn: Connection, p: dict[str, Any]) -> dict[str, Any]:
        return await painter.open(conn, p["room"])

    async def page(svc: Services, conn: Connection, p: dict[str, Any]) -> dict[str, Any]:
        return painter.page(conn, p["room"], p["after"], p["until"])

    async def close(svc: Services, conn: Connection, p: dict[str, Any]) -> dict[str, Any] | None:
        painter.close(conn, p["room"])
        return only_if_asked(p)

    async def add(svc: Services, conn: Connection, p: dict[str, Any]) -> dict[str, Any]:
        return await painter.add(conn, p["room"], p["op"])

    async def cursor(svc: Services, conn: Connection, p: dict[str, Any]) -> dict[str, Any] | None:
        painter.cursor(conn, p["room"], p["x"], p["y"], p["_req"] is not None)
        return only_if_asked(p)

    async def stroke(svc: Services, conn: Connection, p: dict[str, Any]) -> dict[str, Any] | None:
        part = {
            "id": p["id"],
            "color": p["color"],
            "size": p["size"],
            "erase": p.get("erase", False),
            "points": p["points"],
        }
        painter.stroke(conn, p["room"], part, p["_req"] is not None)
        return only_if_asked(p)

    return {
        "paint.open": Spec({"room": s.ID}, open_board),
        "paint.ops": Spec({"room": s.ID, "after": s.SEQ, "until": s.SEQ}, page),
        "paint.close": Spec({"room": s.ID}, close),
        "paint.op": Spec({"room": s.ID, "op": s.Field(s.json_object)}, add),
        "paint.cursor": Spec({"room": s.ID, "x": s.Field(_number), "y": s.Field(_number)}, cursor),
        "paint.stroke": Spec(
            {
                "room": s.ID,
                "id": s.Field(paint_ops.check_id),
                "color": s.Field(paint_ops.check_color),
                "size": s.Field(paint_ops.check_size),
                "erase": s.optional(s.BOOL),
                "points": s.Field(_live_points),
            },
            stroke,
        ),
    }
