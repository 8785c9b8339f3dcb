"""A board held open in memory, and what the other nodes' painters offer (painter ops,
live frames and viewers across nodes: cluster/paint.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from ..connection import Connection
from .board import Board, Plan


class OpenBoard:
    """A board in memory and its viewers."""

    def __init__(self, board: Board) -> None:
        self.board = board
        self.viewers: dict[int, Connection] = {}  # conn id → socket
        self.lock = asyncio.Lock()
        self.busy = 0  # ops waiting for or holding the lock
        self.stale = False  # another node's op was missed: load again before use
        self.reloading = False  # being loaded again: other nodes' ops mark it stale
        self.advanced = asyncio.Event()  # set (and replaced) when another node's op is applied


class OtherNodes(Protocol):
    """The painters of the other nodes (cluster/paint.py): they hear this node's ops, live
    frames and viewers, and tell theirs to `Painter.remote_*`."""

    def op_added(self, room_id: int, plan: Plan) -> None: ...

    def relay(self, room_id: int, data: bytes) -> None: ...

    def viewers_here(self, room_id: int, viewers: list[dict[str, int]]) -> None: ...

    def ask_viewers(self, room_id: int) -> None: ...


class RemoteViewers:
    """The viewers other nodes hold, by room and node, as they last told."""

    def __init__(self) -> None:
        self._by_room: dict[int, dict[int, list[dict[str, int]]]] = {}

    def held(self, room_id: int, node: int, viewers: list[dict[str, int]]) -> None:
        by_node = self._by_room.setdefault(room_id, {})
        if viewers:
            by_node[node] = viewers
        else:
            by_node.pop(node, None)
            if not by_node:
                del self._by_room[room_id]

    def of(self, room_id: int, live: Callable[[int], bool]) -> list[dict[str, int]]:
        """Those of the room whose device is `live` (a killed node's are not)."""
        return [
            viewer
            for listed in self._by_room.get(room_id, {}).values()
            for viewer in listed
            if live(viewer["conn"])
        ]
