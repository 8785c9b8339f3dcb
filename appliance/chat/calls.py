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
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, Protocol, TypeVar

from .. import wire
from ..db import Database
from ..errors import AppError, NotFound
from ..hub import Hub
from ..storage import rooms
from . import call_records
from .call_frames import Delivery
from .call_registry import CallLimits, CallRegistry, Notices
from .call_store import CallStore, LocalCallStore, Op

T = TypeVar("T")

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
        self.limits = limits
        # This process's memory; on several nodes, Redis (`use`, from app.py's cluster link).
        self.store: CallStore = LocalCallStore(limits, self.changed)
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False
        self._tasks: set[asyncio.Task[None]] = set()  # timeline writes, timers, hang-ups
        hub.on_unregister.append(lambda conn: self._spawn(self.gone(conn), "call-gone"))
        hub.on_member_leave.append(
            lambda room, user: self._spawn(self._member_left(room, user), "call-member-left")
        )

    def use(self, store: CallStore) -> None:
        """Keep the calls in `store` from now on (before any socket connects)."""
        self.store = store

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
        row = await rooms.get(self.db, room)
        ring = row is not None and row["kind"] in ("direct", "private")
        return await self.join(device, room, audio=audio, video=video, replaces=replaces, ring=ring)

    async def join(
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
        members, now = set(self.hub.members(room)), self.clock()

        def op(registry: CallRegistry) -> tuple[tuple[dict[str, Any], bool], Notices]:
            call, replaced, notices = registry.join(
                room,
                device.user_id,
                device.id,
                audio=audio,
                video=video,
                members=members,
                now=now,
                replaces=replaces,
                ring=ring,
            )
            return (call.as_json(), replaced), notices

        return await self._run(op)

    async def leave(self, device: Device, room: int) -> None:
        self._require_member(device.user_id, room)
        now = self.clock()
        await self._run(lambda registry: (None, registry.leave(room, device.id, now)))

    async def decline(self, user: int, room: int) -> None:
        self._require_member(user, room)
        now = self.clock()
        await self._run(lambda registry: (None, registry.decline(room, user, now)))

    async def ring(self, device: Device, room: int, user: int) -> dict[str, Any]:
        """A participant rings one member of the room on purpose; returns the call."""
        self._require_member(device.user_id, room)
        members, now = set(self.hub.members(room)), self.clock()

        def op(registry: CallRegistry) -> tuple[dict[str, Any], Notices]:
            notices = registry.ring(room, device.user_id, user, members, now)
            call = registry.get(room)
            assert call is not None
            return call.as_json(), notices

        return await self._run(op)

    async def update(
        self, device: Device, room: int, *, audio: bool, video: bool, screen: bool
    ) -> dict[str, Any]:
        self._require_member(device.user_id, room)

        def op(registry: CallRegistry) -> tuple[dict[str, Any], Notices]:
            call, notices = registry.update(
                room, device.id, audio=audio, video=video, screen=screen
            )
            return call.as_json(), notices

        return await self._run(op)

    async def claim(self, what: str) -> bool:
        """Whether this node acts on `what` (a ring every node's bot hears: one answers)."""
        return await self.store.claim(what)

    async def calls_of(self, user: int) -> list[dict[str, Any]]:
        registry = await self.store.snapshot()
        return [call.as_json() for call in registry.calls_in(self.hub.rooms_of(user))]

    async def gone(self, device: Device) -> None:
        """The device's socket closed: its entry waits a while for `replaces`."""
        now = self.clock()
        await self._run(lambda registry: (None, registry.disconnected(device.id, now)))

    async def end_all(self) -> None:
        """This server stops. On one device its calls end, recorded with their duration,
        and every device in one hears that (reason "shutdown") before the sockets close.
        On several nodes the calls go on elsewhere: this node's devices are away, and
        have the rejoin grace to come back through another node."""
        now = self.clock()
        if isinstance(self.store, LocalCallStore):
            await self._run(lambda registry: (None, registry.end_all(now)))
            return
        here = [conn.id for conn in self.hub.all_connections()]

        def away(registry: CallRegistry) -> tuple[None, Notices]:
            notices = Notices()
            for conn in here:
                more = registry.disconnected(conn, now)
                for room in more.changed:
                    notices.call_changed(room)
            return None, notices

        await self._run(away)

    async def close_interrupted(self) -> int:
        """On start: end the records of calls a crash or a power cut left open. A damaged
        database must not stop the start (the integrity check reports it): then none."""
        try:
            return await call_records.close_interrupted(self.db, int(self.clock() * 1000))
        except sqlite3.DatabaseError as e:
            log.warning("calls left open by a crash were not closed: %s", e)
            return 0

    def shift_clock(self, delta_s: float) -> None:
        self.store.shift_clock(delta_s)

    def close(self) -> None:
        """The server stops: no timers from now on."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def drain(self) -> None:
        """Wait for the work under way (timeline records) before the database closes."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=5)

    # -- delivery ------------------------------------------------------------------------

    def changed(self, deliveries: list[Delivery], deadline: float | None) -> None:
        """A change to the calls (made here or, on several nodes, anywhere): told to the
        devices this node holds, and the timer set for the next deadline."""
        for delivery in deliveries:
            payload = wire.frame(delivery.frame)
            if delivery.conn:
                device = self.hub.connection(delivery.conn)
                if device is not None and not device.closed:
                    device.send(payload)
            elif delivery.room:
                self._to_users(self.hub.members(delivery.room), payload)
            else:
                self._to_users(delivery.users, payload)
        self._schedule(deadline)

    async def _run(self, op: Op[T]) -> T:
        result, notices = await self.store.run(op)
        self._record(notices)
        return result

    def _require_member(self, user: int, room: int) -> None:
        if not self.hub.is_member(user, room):
            raise NotFound("No such room.")

    async def _member_left(self, room: int, user: int) -> None:
        now = self.clock()
        await self._run(lambda registry: (None, registry.remove_user(room, user, now)))

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
            await call_records.write(self.db, room, author, call_id, event, at_ms, duration_ms)

        self._spawn(write(), f"call-record-{room}")

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        async def guarded() -> None:
            try:
                await work
            except AppError as e:  # a room left meanwhile; Redis away: the renewal repairs
                log.info("%s: %s", name, e.message)
            except Exception:
                log.exception("%s failed", name)

        task = asyncio.get_running_loop().create_task(guarded(), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _to_users(self, users: Iterable[int], payload: bytes) -> None:
        for user in users:
            for conn in self.hub.connections_of_user(user):
                if conn.live and not conn.closed:
                    conn.send(payload)

    def _schedule(self, deadline: float | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if deadline is None or self._closed:
            return
        delay = max(0.0, deadline - self.clock())
        self._timer = asyncio.get_running_loop().call_later(delay, self._tick)

    def _tick(self) -> None:
        self._timer = None
        self._spawn(self._due(), "call-timers")

    async def _due(self) -> None:
        """Rings and absences that ran out; then the timer for the next deadline, also when
        nothing was due (a timer may fire a hair early) or the tick failed."""
        now = self.clock()
        try:
            await self._run(lambda registry: (None, registry.tick(now)))
        finally:
            if self._timer is None and not self._closed:
                self._schedule((await self.store.snapshot()).next_deadline())
