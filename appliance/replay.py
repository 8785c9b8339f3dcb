"""Resuming a socket: what `hello {since}` does, and the order of a socket's events.

The guarantee: after `hello` with `since` = S, a socket receives every event after S that
its user may see, exactly once, in seq order, and none it may not see (`access.may_see_event`
for the replay, `access.event_recipients` for live fan-out: the same rule); the reply to
`hello` comes between the replayed events and the live ones, with no gap between the two.
If S is ahead of the log, more than `ws.replay_limit` events behind, or older than the
oldest event kept (the log is pruned to the replay window, event_retention.py; the limit
may have been raised since), nothing is replayed and the reply says `resync: true` (the
client reloads over REST); `since: null` (a client with nothing yet) replays nothing.
Either way the socket is live from the head.

How: before the head is read, the socket's `EventStream` starts holding what the hub
delivers; the replay pages through the log up to that head, sent paced (waiting while the
client drains); then the reply and the held events after the head, paced too (what comes
meanwhile is held as well), and every later one, each only if its seq is above the last
written. Holding is bounded by `ws.send_buffer_bytes`:
past it the socket is closed as too slow (4008) and resumes with another `hello`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import wire
from .access import may_see_event
from .connection import CLOSE_SLOW, Connection
from .hub import Hub
from .storage import Reader, events

REPLAY_PAGE = 500  # events read from the log at a time


class EventStream:
    """One socket's committed events, as the hub delivers them (`Connection.deliver`):
    held while its replay runs, then written in seq order, each once."""

    __slots__ = ("_conn", "_held", "_held_bytes", "last_seq")

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._held: list[tuple[int, bytes]] = []
        self._held_bytes = 0
        self.last_seq = 0

    def hold(self, seq: int, frame: bytes) -> None:
        """While replaying: keep the event for the hand-over, within the socket's budget."""
        self._held_bytes += len(frame)
        if self._held_bytes > self._conn.buffer_limit:
            self._held.clear()
            self._conn.close(CLOSE_SLOW, "too slow: reconnect and resume")
        else:
            self._held.append((seq, frame))

    async def hand_over(self, head: int) -> None:
        """After the reply: the held events after `head`, sent paced (the replay may have
        left the socket's buffer full while the client still reads it: written at once,
        they could pass the budget and close a client that keeps up), then live. What
        comes meanwhile is held too, within the budget; the last check and the switch to
        live happen in one turn of the loop, so nothing falls between them."""
        self.last_seq = head
        conn = self._conn
        while self._held and not conn.closed:
            held, self._held, self._held_bytes = self._held, [], 0
            for seq, frame in held:
                if seq > self.last_seq:
                    self.last_seq = seq
                    await conn.send_paced(wire.ws_text_payload(frame))
        if not conn.closed:
            self.go_live(self.last_seq)

    def go_live(self, head: int) -> None:
        """The hand-over: the held events after `head`, then every later one as it comes."""
        held, self._held = self._held, []
        self.last_seq = head
        self._conn.live = True
        self._conn.deliver = self.forward
        for seq, frame in held:
            self.forward(seq, frame)

    def forward(self, seq: int, frame: bytes) -> None:
        """Live: write the event unless this socket already has it (the hot path)."""
        if seq > self.last_seq:
            self.last_seq = seq
            self._conn.write_frame(frame)


async def resume(
    db: Reader,
    hub: Hub,
    conn: Connection,
    since: int | None,
    replay_limit: int,
    reply: Callable[[dict[str, Any]], bytes],
) -> None:
    """`hello`: replay what `conn` missed after `since`, send the reply `reply` makes of
    `{"head"}` (and `"resync": true` when it cannot replay), then go live; the guarantee
    is above."""
    conn.live = False
    stream = EventStream(conn)
    conn.deliver = stream.hold  # before reading the head: nothing after it can be missed
    head = await events.head(db)
    answer: dict[str, Any] = {"head": head}
    if since is not None and (
        since > head or head - since > replay_limit or since < await events.oldest(db) - 1
    ):
        answer["resync"] = True
    elif since is not None:
        await _replay(db, hub, conn, since, head)
    if conn.closed:
        return  # closing stopped the deliveries; the client resumes on its next socket
    await conn.send_paced(reply(answer))  # paced like the replay it follows
    await stream.hand_over(head)


async def _replay(db: Reader, hub: Hub, conn: Connection, since: int, head: int) -> None:
    """The events in (since, head] that the user may see, in seq order, sent paced."""
    cursor = since
    while cursor < head and not conn.closed:
        page = await events.after(db, cursor, REPLAY_PAGE)
        if not page:
            break
        for event in page:
            if event.seq > head:
                return  # held: the stream writes these after the reply
            if may_see_event(conn.user_id, event, hub.rooms_of(conn.user_id)):
                await conn.send_paced(wire.event_frame(event))
        cursor = page[-1].seq
