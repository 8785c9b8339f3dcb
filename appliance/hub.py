"""Connected sockets, room membership for the hot path, and live fan-out.

Publishing never awaits a socket (docs/architecture.md). An event is framed once (RFC 6455 text
frame, unmasked as server frames are) and the same bytes are written to every recipient's
transport at once: no per-socket task or queue to wake, which is what a delivery costs
most. The transport's own buffer is the bounded queue: a socket whose unsent bytes pass
`ws.send_buffer_bytes` is closed (code 4008) and resumes with `hello`. Membership here
mirrors SQLite, kept in step, in seq order, by the `MembershipChange` each committed event
makes (the hub reads no event payloads: `chat/membership.py` does, and `app.py` hands it
over). What a socket's events are (held during a replay, then each written once, in seq
order) is decided in `replay.py`; a `Connection` only writes.

A commit of several events (the writer batches under load) reaches each socket as ONE
write of their frames joined, in seq order: a write is a system call and wakes the
client, and per event and socket it was most of the fan-out's CPU (bench/fanout.py
--profile) and, with clients that decode what they get, its tail latency. Events go out
in runs that share one recipient set; a membership change ends a run, so nobody gets an
event of a room before joining it or after leaving it. The same goes one step further for the
sockets whose requests were in the batch (`Database.write` notes each caller): from the
publish until they have written their replies (`hold`, ended by the writer's `on_settled`,
the next turn of the loop), their frames wait and leave as one write, so a sender gets its
own event and its acknowledgement in one system call. Every other socket is written at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Collection, Iterable
from typing import Any, NamedTuple, Protocol

from . import wire
from .access import event_recipients
from .connection import Connection
from .db import Event

log = logging.getLogger(__name__)


class MembershipChange(NamedTuple):
    """Who joined and who left one room, as one committed event says."""

    room_id: int
    joined: tuple[int, ...] = ()
    left: tuple[int, ...] = ()


# Maps a committed event to the membership change it makes, if any (chat/membership.py).
MembershipOf = Callable[[Event], MembershipChange | None]


def _no_membership(event: Event) -> MembershipChange | None:
    return None


class OtherNodes(Protocol):
    """The devices other nodes hold (cluster/link.py), for signalling between devices."""

    def devices_of(self, user_ids: Collection[int]) -> list[tuple[int, int]]:
        """(user id, device id) of these people's devices on other live nodes."""
        ...

    def user_of(self, conn_id: int) -> int | None:
        """Whose device this is, if another live node holds it."""
        ...

    def send_to(self, conn_id: int, room_id: int, data: bytes) -> None:
        """A frame for one device of another node, if it is live and still in the room."""
        ...


class Hub:
    def __init__(
        self, *, membership: MembershipOf = _no_membership, presence_delay_s: float = 1.0
    ) -> None:
        """`membership` reads the change a committed event makes to who is in which room
        (`app.py` gives it `chat.membership.change_of`). Without it the map changes only by
        `load_memberships`: for a hub no database feeds (the offline commands, tests)."""
        self._membership_of = membership
        self.by_user: dict[int, set[Connection]] = {}
        self.by_address: Counter[str] = Counter()
        self.room_members: dict[int, set[int]] = {}
        self.user_rooms: dict[int, set[int]] = {}
        self.last_seen: dict[int, int] = {}
        self.by_id: dict[int, Connection] = {}
        self.on_offline: Callable[[int], None] = lambda user_id: None
        # Features holding per-socket state (calls, painter) forget a socket here.
        self.on_unregister: list[Callable[[Connection], None]] = []
        # ... and forget a member who left a room (room id, user id): calls hang them up.
        self.on_member_leave: list[Callable[[int, int], None]] = []
        self._presence_delay_s = presence_delay_s
        self._held: list[Connection] = []  # sockets held for their replies (`hold`)
        self._presence_changes: dict[int, dict[str, Any]] = {}
        self._presence_timer: asyncio.TimerHandle | None = None
        # Several nodes (cluster/link.py): ephemeral frames also go to the other nodes'
        # sockets (`forward`), and who is online is the cluster's answer: this node tells
        # `on_local_presence` of its own first and last sockets, and hears every change,
        # its own included, through `presence_noticed`.
        self.forward: Callable[[Collection[int] | None, bytes, int], None] | None = None
        self.on_local_presence: Callable[[int, bool], None] | None = None
        self.online_in_cluster: set[int] = set()
        # ... and devices are addressed across nodes: each node tells the others of its
        # own (`on_device`: opened, closed) and hears theirs (`other_nodes`).
        self.on_device: Callable[[Connection, bool], None] | None = None
        self.other_nodes: OtherNodes | None = None

    # -- membership ----------------------------------------------------------------------

    def load_memberships(self, pairs: Iterable[tuple[int, int]]) -> None:
        for room_id, user_id in pairs:
            self._join(room_id, user_id)

    def members(self, room_id: int) -> set[int]:
        return self.room_members.get(room_id, set())

    def rooms_of(self, user_id: int) -> set[int]:
        return self.user_rooms.get(user_id, set())

    def is_member(self, user_id: int, room_id: int) -> bool:
        return user_id in self.room_members.get(room_id, ())

    def _join(self, room_id: int, user_id: int) -> None:
        self.room_members.setdefault(room_id, set()).add(user_id)
        self.user_rooms.setdefault(user_id, set()).add(room_id)

    def _leave(self, room_id: int, user_id: int) -> None:
        self.room_members.get(room_id, set()).discard(user_id)
        self.user_rooms.get(user_id, set()).discard(room_id)
        for listener in self.on_member_leave:
            try:
                listener(room_id, user_id)
            except Exception:
                log.exception("member-leave listener failed")

    def _apply_membership(self, change: MembershipChange) -> None:
        for user_id in change.joined:
            self._join(change.room_id, user_id)
        for user_id in change.left:
            self._leave(change.room_id, user_id)

    # -- connections ---------------------------------------------------------------------

    def connections_from(self, address: str) -> int:
        return self.by_address[address]

    def connections_of(self, user_id: int) -> int:
        return len(self.by_user.get(user_id, ()))

    def register(self, conn: Connection) -> None:
        conns = self.by_user.setdefault(conn.user_id, set())
        conns.add(conn)
        self.by_id[conn.id] = conn
        self.by_address[conn.address] += 1
        if self.on_device is not None:
            self.on_device(conn, True)
        if len(conns) == 1:
            self._local_presence(conn.user_id, online=True)

    def unregister(self, conn: Connection, now_ms: int) -> None:
        conns = self.by_user.get(conn.user_id)
        if conns is None or conn not in conns:
            return
        conns.discard(conn)
        self.by_id.pop(conn.id, None)
        for listener in self.on_unregister:
            try:
                listener(conn)
            except Exception:
                log.exception("unregister listener failed")
        if self.on_device is not None:
            self.on_device(conn, False)
        self.by_address[conn.address] -= 1
        if self.by_address[conn.address] <= 0:
            del self.by_address[conn.address]
        if not conns:
            del self.by_user[conn.user_id]
            self.last_seen[conn.user_id] = now_ms
            self._local_presence(conn.user_id, online=False)
            self.on_offline(conn.user_id)

    def connection(self, conn_id: int) -> Connection | None:
        return self.by_id.get(conn_id)

    def connections_of_user(self, user_id: int) -> Iterable[Connection]:
        return tuple(self.by_user.get(user_id, ()))

    def is_online(self, user_id: int) -> bool:
        return user_id in self.by_user or user_id in self.online_in_cluster

    def all_connections(self) -> Iterable[Connection]:
        for conns in self.by_user.values():
            yield from conns

    def close_user(self, user_id: int, reason: str, *, session_id: int | None = None) -> None:
        for conn in list(self.by_user.get(user_id, ())):
            if session_id is None or conn.session_id == session_id:
                conn.close(4001, reason)

    # -- fan-out -------------------------------------------------------------------------

    def publish(self, events: list[Event]) -> None:
        """Deliver committed events (called by the writer, in seq order, after commit)."""
        membership_of = self._membership_of
        members = self.members
        run: list[tuple[int, bytes]] = []
        run_to: Collection[int] | None = None
        for event in events:
            change = membership_of(event)
            if change is not None:
                if run:  # sent to the members before the change
                    self._fan_out(run, run_to)
                    run = []
                self._apply_membership(change)
            # A room's member set is one object (changed in place only above): the same
            # object means the same people, so the event joins the run.
            recipients = event_recipients(event, members)
            if run and recipients is not run_to:
                self._fan_out(run, run_to)
                run = []
            run.append((event.seq, wire.ws_text_frame(wire.event_frame(event))))
            run_to = recipients
        if run:
            self._fan_out(run, run_to)

    def hold(self, callers: Iterable[object]) -> None:
        """The sockets among a batch's callers keep their frames until `settled`: their
        events and their replies leave as one write (two turns of the loop at most)."""
        held = self._held
        fresh = not held
        for caller in callers:
            if isinstance(caller, Connection) and not caller.closed and not caller.corked:
                caller.cork()
                held.append(caller)
        if fresh and held:
            loop = asyncio.get_running_loop()
            loop.call_soon(loop.call_soon, self._release)  # if `settled` never comes

    @property
    def holding(self) -> bool:
        """Whether some socket's writes are held for its replies now."""
        return bool(self._held)

    def settled(self) -> None:
        """The writer has answered the batch's callers: their replies are written on the
        loop's next turn, and the hold ends right after them."""
        if self._held:
            asyncio.get_running_loop().call_soon(self._release)

    def _release(self) -> None:
        held, self._held = self._held, []
        for conn in held:
            conn.release()

    def _fan_out(self, run: list[tuple[int, bytes]], user_ids: Collection[int] | None) -> None:
        """A run of events to every socket of `user_ids`: one write per socket."""
        if len(run) == 1:  # the usual case: no corking, one delivery per socket
            seq, frame = run[0]
            if user_ids is None:
                for everyone in self.by_user.values():
                    for conn in everyone:
                        conn.deliver(seq, frame)
                return
            by_user = self.by_user
            for user_id in user_ids:
                conns = by_user.get(user_id)
                if conns:
                    for conn in conns:
                        conn.deliver(seq, frame)
            return
        joined, count = b"".join(frame for _, frame in run), len(run)
        for conn in self._connections_of(user_ids):
            if conn.corked:  # held for its replies: the run joins what it holds
                for seq, frame in run:
                    conn.deliver(seq, frame)
                continue
            conn.cork()
            for seq, frame in run:
                conn.deliver(seq, frame)  # read each time: closing swaps it for a discard
            conn.uncork(joined, count)

    def relay(self, user_ids: Collection[int] | None, data: bytes, *, skip_user: int = 0) -> None:
        """An ephemeral frame (typing) to live connections, on every node; None means
        everyone."""
        self.relay_here(user_ids, data, skip_user=skip_user)
        if self.forward is not None:
            try:
                self.forward(user_ids, data, skip_user)
            except Exception:  # ephemeral: this node's sockets have it
                log.exception("forwarding an ephemeral frame failed")

    def relay_here(
        self, user_ids: Collection[int] | None, data: bytes, *, skip_user: int = 0
    ) -> None:
        """An ephemeral frame to this node's live connections only."""
        frame = wire.ws_text_frame(data)
        for conn in self._connections_of(user_ids):
            if conn.live and conn.user_id != skip_user:
                conn.write_frame(frame)

    def _connections_of(self, user_ids: Collection[int] | None) -> Iterable[Connection]:
        if user_ids is None:
            yield from self.all_connections()
            return
        by_user = self.by_user
        for user_id in user_ids:
            conns = by_user.get(user_id)
            if conns:
                yield from conns

    # -- presence ------------------------------------------------------------------------

    def _local_presence(self, user_id: int, *, online: bool) -> None:
        if self.on_local_presence is None:
            self._presence_changed(user_id, online=online)
        else:
            self.on_local_presence(user_id, online)

    def presence_noticed(self, user_id: int, online: bool, now_ms: int) -> None:
        """The cluster says this person came online (on some node) or went offline (on
        all): told to this node's sockets, as a change on one node is."""
        if online:
            self.online_in_cluster.add(user_id)
        else:
            self.online_in_cluster.discard(user_id)
            self.last_seen[user_id] = now_ms
        self._presence_changed(user_id, online=online)

    def _presence_changed(self, user_id: int, *, online: bool) -> None:
        # Coalesced: a burst of connects becomes one frame per socket, not one per pair.
        self._presence_changes[user_id] = {
            "user": user_id,
            "online": online,
            "last_seen": self.last_seen.get(user_id),
        }
        if self._presence_timer is None:
            loop = asyncio.get_running_loop()
            self._presence_timer = loop.call_later(self._presence_delay_s, self._flush_presence)

    def _flush_presence(self) -> None:
        self._presence_timer = None
        changes = list(self._presence_changes.values())
        self._presence_changes.clear()
        if len(changes) == 1:
            data = wire.frame({"type": "presence", **changes[0]})
        else:
            data = wire.frame({"type": "presence.batch", "users": changes})
        self.relay_here(None, data)  # each node tells its own sockets

    def close_all(self) -> None:
        if self._presence_timer is not None:
            self._presence_timer.cancel()
            self._presence_timer = None
        for conn in list(self.all_connections()):
            conn.close(1001, "server shutting down")
