"""One WebSocket, seen from the server's write side: frames written whole and at once, held
while the hub fans out a run of events or holds a caller's writes, and the socket closed
(code 4008) once its unsent bytes would pass `ws.send_buffer_bytes` (docs/architecture.md).
The hub (`hub.py`) decides what each socket gets; this module only writes it.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable

from aiohttp import WSMsgType, web

from . import wire

CLOSE_SLOW = 4008  # the client fell too far behind: reconnect and resume with hello
NODE_BITS = 32  # a device id is (node number << NODE_BITS) + a count: under 2**53 for JS
_node_number = 0  # 0 on one device; a number of its own on each node of a cluster
_connection_ids = itertools.count(1)


def next_connection_id() -> int:
    """A device id no socket has: in-process participants (a call's echo bot) take one."""
    return next(_connection_ids)


def number_connections(node_number: int) -> None:
    """Device ids from now on name this node: calls and signalling address a device by id
    on every node (cluster/link.py), so no two nodes may hand out the same one."""
    global _node_number, _connection_ids
    if not 0 < node_number < 2 ** (53 - NODE_BITS):
        raise ValueError("a node number is between 1 and 2**21 - 1")
    _node_number = node_number
    _connection_ids = itertools.count((node_number << NODE_BITS) + 1)


def node_of(connection_id: int) -> int:
    """The number of the node holding this device (0 on one device)."""
    return connection_id >> NODE_BITS


def is_here(connection_id: int) -> bool:
    """Whether this process holds (or held) the device with this id."""
    return node_of(connection_id) == _node_number


def _discard(seq: int, frame: bytes) -> None:
    pass


class Connection:
    """One WebSocket: writing to it. Frames are written whole and at once, so they never
    interleave with the ones aiohttp writes itself (pings, pongs, close)."""

    # While the hub fans out a run of events, or holds a caller's writes (`Hub.hold`):
    # this socket's frames, written at `uncork` or `release`.
    _corked: list[bytes] | None = None

    def __init__(
        self,
        ws: web.WebSocketResponse,
        transport: asyncio.Transport,
        user_id: int,
        session_id: int,
        address: str,
        buffer_limit: int,
    ) -> None:
        # Names this socket (one tab on one device) to peers: calls, transfers and the
        # painter address frames to a device, not to every tab of a user.
        self.id = next_connection_id()
        self.ws = ws
        self.transport = transport
        self.user_id = user_id
        self.session_id = session_id
        self.address = address
        self.buffer_limit = buffer_limit
        self.live = False  # after hello: receives events and peers' frames (replay.py sets it)
        # Where the hub puts this socket's committed events (seq, whole frame): dropped
        # until hello, then the socket's `replay.EventStream` decides; dropped once closed.
        self.deliver: Callable[[int, bytes], None] = _discard
        self.closed = False
        # The close being sent: the socket's handler waits for it, so that returning does
        # not let aiohttp close with 1000 first and hide the code (4008) from the client.
        self.closing: asyncio.Task[bool] | None = None
        # Every incoming frame takes a token (limits.frames_*): reads, markers and hellos
        # cost the server work too, so no socket may send without bound.
        self.frame_tokens = 0.0
        self.frame_stamp = 0.0

    def send(self, payload: bytes) -> None:
        """A reply or an ephemeral frame, written now."""
        self.write_frame(wire.ws_text_frame(payload))

    def write_frame(self, frame: bytes) -> None:
        if self.closed:
            return
        corked = self._corked
        if corked is not None:
            corked.append(frame)
            return
        transport = self.transport
        if transport.is_closing():
            self.closed = True
            self.deliver = _discard
            return
        if transport.get_write_buffer_size() + len(frame) > self.buffer_limit:
            self.close(CLOSE_SLOW, "too slow: reconnect and resume")
            return
        transport.write(frame)

    @property
    def corked(self) -> bool:
        return self._corked is not None

    def cork(self) -> None:
        """Hold this socket's frames until `uncork` (or `release`), to write them as one."""
        if self._corked is None:
            self._corked = []

    def uncork(self, run: bytes, run_count: int) -> None:
        """Write what was held as one: `run` (the run's `run_count` frames joined, made once
        for every socket) when all of them came through, else what did."""
        frames, self._corked = self._corked, None
        if not frames:
            return
        self._write_joined(frames, run if len(frames) == run_count else None)

    def release(self) -> None:
        """Write what was held (`Hub.hold`), as one."""
        frames, self._corked = self._corked, None
        if frames:
            self._write_joined(frames, None)

    def _write_joined(self, frames: list[bytes], joined: bytes | None) -> None:
        if len(frames) == 1:
            self.write_frame(frames[0])
            return
        data = joined if joined is not None else b"".join(frames)
        transport = self.transport
        if (
            not self.closed
            and not transport.is_closing()
            and transport.get_write_buffer_size() + len(data) <= self.buffer_limit
        ):
            transport.write(data)
            return
        for frame in frames:  # more than may wait unsent at once: frame by frame, as ever
            self.write_frame(frame)

    async def send_paced(self, payload: bytes) -> None:
        """For bulk sends (replay): waits while the client drains, instead of overflowing.
        A client gone meanwhile ends it quietly: the socket counts as closed."""
        self.release()  # aiohttp writes this one itself: what was held goes first
        if not self.closed:
            try:
                await self.ws.send_frame(payload, WSMsgType.TEXT)
            except ConnectionError:
                self.closed = True
                self.deliver = _discard

    def close(self, code: int, reason: str) -> None:
        if self.closed:
            return
        self.release()  # what was written before the close goes before it
        self._close_now(code, reason)

    def _close_now(self, code: int, reason: str) -> None:
        if self.closed:
            return  # too slow for even what was held: closed as such
        self.closed = True
        self.deliver = _discard
        self.closing = asyncio.get_running_loop().create_task(
            self.ws.close(code=code, message=reason.encode()), name="ws-close"
        )
