"""The devices other nodes hold, as they tell it: what `rtc.devices` lists and where an
`rtc.signal` goes when its device is on another node.

Each node publishes on `CHANNEL`, through its link's ordered outbox, when one of its
devices opens (`+`) or closes (`-`), all of them at each renewal (`=`), and `bye` when it
stops; a node starting says `hello`, and every other answers with its list at once. Each
node keeps the others' lists in memory: a node not heard from for `ttl_s` (killed, or cut
off) is forgotten. Signals for a device go on the same channel and are delivered by the
node holding it, which checks again that the device is live and still in the room.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..connection import node_of
from ..hub import Hub

log = logging.getLogger(__name__)

CHANNEL = "pychat:devices"


@dataclass
class _Node:
    heard_at: float
    devices: dict[int, int] = field(default_factory=dict)  # device id → user id


class RemoteDevices:
    def __init__(
        self,
        node: int,
        hub: Hub,
        publish: Callable[[str, str], None],
        *,
        ttl_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.node = node
        self._hub = hub
        self._publish = publish
        self._ttl_s = ttl_s
        self._clock = clock
        self._nodes: dict[int, _Node] = {}

    # -- out -------------------------------------------------------------------------------

    def opened(self, conn_id: int, user_id: int) -> None:
        self._say({"op": "+", "conn": conn_id, "user": user_id})

    def closed(self, conn_id: int) -> None:
        self._say({"op": "-", "conn": conn_id})

    def hello(self) -> None:
        self._say({"op": "hello"})

    def renew(self) -> None:
        self._say({"op": "=", "devices": self._local()})

    def farewell(self) -> str:
        """What this node says as it stops (published by the link, its outbox gone)."""
        return self._text({"op": "bye"})

    def send_to(self, conn_id: int, room_id: int, data: bytes) -> None:
        self._say({"op": "signal", "to": conn_id, "room": room_id, "data": data.decode()})

    def _say(self, message: dict[str, Any]) -> None:
        self._publish(CHANNEL, self._text(message))

    def _text(self, message: dict[str, Any]) -> str:
        return json.dumps({"node": self.node, **message}, separators=(",", ":"))

    def _local(self) -> list[tuple[int, int]]:
        return [(conn.id, conn.user_id) for conn in self._hub.all_connections()]

    # -- in --------------------------------------------------------------------------------

    def received(self, text: str) -> None:
        try:
            message = json.loads(text)
            node, op = int(message["node"]), message["op"]
            if node == self.node:
                return
            if op == "signal":
                self._signal(int(message["to"]), int(message["room"]), str(message["data"]))
            elif op == "bye":
                self._nodes.pop(node, None)
            elif op == "hello":
                self.renew()  # a node starting: it hears every list at once
                self._nodes.pop(node, None)  # a restart under the same number starts anew
            else:
                self._heard(node, op, message)
        except (ValueError, KeyError, TypeError):
            log.warning("a malformed message on %s was ignored", CHANNEL)

    def _heard(self, node: int, op: str, message: dict[str, Any]) -> None:
        entry = self._nodes.setdefault(node, _Node(self._clock()))
        entry.heard_at = self._clock()
        if op == "+":
            entry.devices[int(message["conn"])] = int(message["user"])
        elif op == "-":
            entry.devices.pop(int(message["conn"]), None)
        elif op == "=":
            entry.devices = {int(conn): int(user) for conn, user in message["devices"]}

    def _signal(self, to: int, room_id: int, data: str) -> None:
        if node_of(to) != self.node:
            return
        target = self._hub.connection(to)
        if (
            target is not None
            and target.live
            and not target.closed
            and self._hub.is_member(target.user_id, room_id)
        ):
            target.send(data.encode())

    # -- what the others hold --------------------------------------------------------------

    def devices_of(self, user_ids: Collection[int]) -> list[tuple[int, int]]:
        return [
            (user, conn)
            for devices in self._live()
            for conn, user in devices.items()
            if user in user_ids
        ]

    def user_of(self, conn_id: int) -> int | None:
        entry = self._nodes.get(node_of(conn_id))
        if entry is None or self._clock() - entry.heard_at > self._ttl_s:
            return None
        return entry.devices.get(conn_id)

    def _live(self) -> Iterable[dict[int, int]]:
        now = self._clock()
        for node, entry in list(self._nodes.items()):
            if now - entry.heard_at > self._ttl_s:
                del self._nodes[node]  # killed or cut off: its devices are gone with it
            else:
                yield entry.devices
