"""Calls: the registry's decisions turned into frames for devices, its clock into timers,
and calls that start and end into lines of the room's timeline (call_records.py).

The Python API behind the `rtc.call.*` frames (docs/api/calls.md). A device is a browser
socket (`connection.Connection`) or an in-process participant (the echo bot) with the same
`id`, `user_id` and `send(bytes)`, so both take part the same way.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from .. import wire
from ..db import Database
from ..errors import NotFound
from ..hub import Hub
from ..storage import rooms
from . import call_records
from .call_registry import Call, CallLimits, CallRegistry, Notices

log = logging.getLogger(__name__)


class Device(Protocol):
    @property
    def id(self) -> int: ...

    @property
    def user_id(self) -> int: ...

    def send(self, payload: bytes) -> None: ...


class CallService:
    def __init__(
        self, hub: Hub, db: Database, limits: CallLimits, clock: Callable[[], float]
    ) -> None:
        self.hub = hub
        self.db = db
        self.clock = clock
        self.registry = CallRegistry(limits)
        # The devices of participants, so in-process ones (not in the hub) hear their call.
        self.devices: dict[int, Device] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._records: set[asyncio.Task[None]] = set()  # timeline writes under way
        hub.on_unregister.append(lambda conn: self.gone(conn))
        hub.on_member_leave.append(self._member_left)

    # -- the API -------------------------------------------------------------------------

    async def start_or_join(
        self,
        device: Device,
        room: int,
        *,
        audio: bool,
        video: bool,
        replaces: int | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """`join`, ringing the room when this starts its call and the room is one that
        rings: a direct room, or a private one of at most `calls.ring_max_members`."""
        self._require_member(device.user_id, room)
        ring = False
        if self.registry.get(room) is None:
            row = await rooms.get(self.db, room)
            ring = row is not None and row["kind"] in ("direct", "private")
        return self.join(device, room, audio=audio, video=video, replaces=replaces, ring=ring)

    def join(
        self,
        device: Device,
        room: int,
        *,
        audio: bool,
        video: bool,
        replaces: int | None = None,
        ring: bool = False,
    ) -> tuple[dict[str, Any], bool]:
        """Start or join the room's call; returns (call, replaced). A call started here
        rings nobody unless `ring` (start_or_join decides by the room)."""
        self._require_member(device.user_id, room)
        call, replaced, notices = self.registry.join(
            room,
            device.user_id,
            device.id,
            audio=audio,
            video=video,
            members=set(self.hub.members(room)),
            now=self.clock(),
            replaces=replaces,
            ring=ring,
        )
        self.devices[device.id] = device
        self._publish(notices)
        return call.as_json(), replaced

    def leave(self, device: Device, room: int) -> None:
        self._require_member(device.user_id, room)
        self._publish(self.registry.leave(room, device.id, self.clock()))

    def decline(self, user: int, room: int) -> None:
        self._require_member(user, room)
        self._publish(self.registry.decline(room, user, self.clock()))

    def ring(self, device: Device, room: int, user: int) -> dict[str, Any]:
        """A participant rings one member of the room on purpose; returns the call."""
        self._require_member(device.user_id, room)
        notices = self.registry.ring(
            room, device.user_id, user, set(self.hub.members(room)), self.clock()
        )
        self._publish(notices)
        call = self.registry.get(room)
        assert call is not None
        return call.as_json()

    def update(
        self, device: Device, room: int, *, audio: bool, video: bool, screen: bool
    ) -> dict[str, Any]:
        self._require_member(device.user_id, room)
        call, notices = self.registry.update(
            room, device.id, audio=audio, video=video, screen=screen
        )
        self._publish(notices)
        return call.as_json()

    def calls_of(self, user: int) -> list[dict[str, Any]]:
        return [call.as_json() for call in self.registry.calls_in(self.hub.rooms_of(user))]

    def gone(self, device: Device) -> None:
        """The device's socket closed: its entry waits a while for `replaces`."""
        self.devices.pop(device.id, None)
        self._publish(self.registry.disconnected(device.id, self.clock()))

    def end_all(self) -> None:
        """The server stops: its calls end, recorded with their duration, and every device
        in one hears that (reason "shutdown") before the sockets close."""
        self._publish(self.registry.end_all(self.clock()))

    async def close_interrupted(self) -> int:
        """On start: end the records of calls a crash or a power cut left open. A damaged
        database must not stop the start (the integrity check reports it): then none."""
        try:
            return await call_records.close_interrupted(self.db, int(self.clock() * 1000))
        except sqlite3.DatabaseError as e:
            log.warning("calls left open by a crash were not closed: %s", e)
            return 0

    def shift_clock(self, delta_s: float) -> None:
        self.registry.shift_clock(delta_s)
        if self._timer is not None:
            self._schedule()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def drain(self) -> None:
        """Wait for the timeline records under way (before the database closes)."""
        if self._records:
            await asyncio.wait(set(self._records), timeout=5)

    # -- delivery ------------------------------------------------------------------------

    def _require_member(self, user: int, room: int) -> None:
        if not self.hub.is_member(user, room):
            raise NotFound("No such room.")

    def _member_left(self, room: int, user: int) -> None:
        call = self.registry.get(room)
        seat = call.participants.get(user) if call else None
        device = None
        if seat is not None:
            device = self.devices.get(seat.conn) or self.hub.connection(seat.conn)
        self._publish(self.registry.remove_user(room, user, self.clock()))
        if device is not None:
            # No longer a member, so not among those told of the room's call: the device
            # still has to learn its seat is gone (and nothing more about the call).
            frame = {"type": "rtc.call", "room": room, "call": None, "reason": "removed"}
            device.send(wire.frame(frame))

    def _publish(self, notices: Notices) -> None:
        self._record(notices)
        for stop in notices.ring_stops:
            frame = {"type": "rtc.ring.stop", "room": stop.room, "call": stop.call}
            self._to_users(stop.users, wire.frame({**frame, "reason": stop.reason}))
        for room in notices.changed:
            call = self.registry.get(room)
            frame = {"type": "rtc.call", "room": room, "call": _json(call)}
            if call is None:
                frame["reason"] = notices.ended.get(room, "empty")
            payload = wire.frame(frame)
            for device in self._room_devices(room, call):
                device.send(payload)
        for room, users in notices.rings:
            ringing = self.registry.get(room)
            if ringing is None:
                continue
            ring = {"type": "rtc.ring", "room": room, "call": ringing.as_json()}
            self._to_users(
                users, wire.frame({**ring, "from": ringing.started_by, "video": ringing.video})
            )
        for room, user, by in notices.rung:
            ringing = self.registry.get(room)
            if ringing is None or user not in ringing.ringing:
                continue
            ring = {"type": "rtc.ring", "room": room, "call": ringing.as_json()}
            self._to_users([user], wire.frame({**ring, "from": by, "video": False}))
        if notices:
            self._forget_devices()
            self._schedule()

    def _record(self, notices: Notices) -> None:
        """Started and finished calls into their rooms' timelines. Tasks made in order queue
        their writes in order, so a call's "started" is stored before its "ended"."""
        for call in notices.started:
            self._spawn_record(call.room, call.started_by, call.id, "started", call.started_at)
        for done in notices.finished:
            self._spawn_record(
                done.room,
                done.started_by,
                done.call,
                done.event,
                done.ended_at,
                done.duration_ms if done.event == "ended" else None,
            )

    def _spawn_record(
        self,
        room: int,
        author: int,
        call_id: int,
        event: str,
        at_ms: int,
        duration_ms: int | None = None,
    ) -> None:
        async def write() -> None:
            try:
                await call_records.write(self.db, room, author, call_id, event, at_ms, duration_ms)
            except Exception:
                log.exception("recording a call in room %d failed", room)

        task = asyncio.get_running_loop().create_task(write(), name="call-record")
        self._records.add(task)
        task.add_done_callback(self._records.discard)

    def _to_users(self, users: Iterable[int], payload: bytes) -> None:
        for user in users:
            for conn in self.hub.connections_of_user(user):
                if conn.live and not conn.closed:
                    conn.send(payload)

    def _room_devices(self, room: int, call: Call | None) -> list[Device]:
        found: dict[int, Device] = {}
        for member in self.hub.members(room):
            for conn in self.hub.connections_of_user(member):
                if conn.live and not conn.closed:
                    found[conn.id] = conn
        for p in call.participants.values() if call else ():
            device = self.devices.get(p.conn)
            if device is not None:
                found.setdefault(device.id, device)
        return list(found.values())

    def _forget_devices(self) -> None:
        in_calls = {
            p.conn for call in self.registry.calls.values() for p in call.participants.values()
        }
        for conn_id in [c for c in self.devices if c not in in_calls]:
            del self.devices[conn_id]

    def _schedule(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self.registry.next_deadline()
        if deadline is None:
            return
        delay = max(0.0, deadline - self.clock())
        self._timer = asyncio.get_running_loop().call_later(delay, self._tick)

    def _tick(self) -> None:
        self._timer = None
        try:
            self._publish(self.registry.tick(self.clock()))
        except Exception:
            log.exception("call timers failed")
        if self._timer is None:
            self._schedule()


def _json(call: Call | None) -> dict[str, Any] | None:
    return call.as_json() if call is not None else None
