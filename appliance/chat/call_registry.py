"""Who is in each room's call, who is being rung, and when rings and absences run out.

Pure state: no sockets, no timers, no I/O. Every operation takes `now` (seconds) and
returns `Notices` saying what changed, so the service (chat/calls.py) can tell devices and
a unit test can drive time by hand. Rules are in docs/api/calls.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import BadRequest, Conflict, NotFound


@dataclass(frozen=True)
class CallLimits:
    ring_timeout_s: float = 45.0
    rejoin_grace_s: float = 20.0
    max_participants: int = 16
    ring_max_members: int = 16


@dataclass
class Participant:
    user: int
    conn: int
    audio: bool
    video: bool
    joined_at: int
    screen: bool = False
    gone_since: float | None = None  # the socket closed; kept for `replaces` until grace ends

    def as_json(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "conn": self.conn,
            "audio": self.audio,
            "video": self.video,
            "screen": self.screen,
            "joined_at": self.joined_at,
            "connected": self.gone_since is None,
        }


@dataclass
class Call:
    id: int
    room: int
    started_at: int
    started_by: int
    video: bool  # the caller's choice, the callee's default answer
    participants: dict[int, Participant] = field(default_factory=dict)  # by user
    ringing: set[int] = field(default_factory=set)
    declined: set[int] = field(default_factory=set)
    busy: set[int] = field(default_factory=set)
    ring_until: float = 0.0
    # Rung on purpose later (`ring`): their own deadlines, instead of `ring_until`.
    ring_until_of: dict[int, float] = field(default_factory=dict)
    rang: bool = False  # the start rang the room (a direct or small private room)
    answered: bool = False

    def ring_deadline(self, user: int) -> float:
        return self.ring_until_of.get(user, self.ring_until)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "room": self.room,
            "started_at": self.started_at,
            "started_by": self.started_by,
            "participants": [
                p.as_json() for p in sorted(self.participants.values(), key=lambda p: p.joined_at)
            ],
            "ringing": sorted(self.ringing),
            "declined": sorted(self.declined),
            "busy": sorted(self.busy),
        }


@dataclass(frozen=True)
class RingStop:
    room: int
    call: int
    users: frozenset[int]
    reason: str  # answered | declined | timeout | ended


@dataclass(frozen=True)
class Finished:
    """A call that ended, for its record in the room's timeline."""

    room: int
    call: int
    started_by: int
    event: str  # ended | missed (rung at the start, and nobody answered)
    ended_at: int  # ms
    duration_ms: int


@dataclass
class Notices:
    """What an operation changed, in the order devices should hear it."""

    changed: list[int] = field(default_factory=list)  # rooms whose call changed or ended
    rings: list[tuple[int, frozenset[int]]] = field(default_factory=list)  # (room, users)
    rung: list[tuple[int, int, int]] = field(default_factory=list)  # (room, user, by) on purpose
    started: list[Call] = field(default_factory=list)
    finished: list[Finished] = field(default_factory=list)
    ring_stops: list[RingStop] = field(default_factory=list)
    ended: dict[int, str] = field(default_factory=dict)  # room → why its call ended
    # Seats taken away because their person left the room: (room, device), told apart.
    removed: list[tuple[int, int]] = field(default_factory=list)

    def call_changed(self, room: int) -> None:
        if room not in self.changed:
            self.changed.append(room)

    def stop_ring(self, call: Call, users: set[int], reason: str) -> None:
        if users:
            self.ring_stops.append(RingStop(call.room, call.id, frozenset(users), reason))

    def __bool__(self) -> bool:
        return bool(self.changed or self.rings or self.rung or self.ring_stops or self.finished)


class CallRegistry:
    def __init__(self, limits: CallLimits) -> None:
        self.limits = limits
        self.calls: dict[int, Call] = {}  # by room
        self.room_of_user: dict[int, int] = {}  # a user is in one call at a time
        self.last_id = 0

    def get(self, room: int) -> Call | None:
        return self.calls.get(room)

    def calls_in(self, rooms: set[int]) -> list[Call]:
        return [call for room, call in sorted(self.calls.items()) if room in rooms]

    # -- operations ----------------------------------------------------------------------

    def join(
        self,
        room: int,
        user: int,
        conn: int,
        *,
        audio: bool,
        video: bool,
        members: set[int],
        now: float,
        replaces: int | None = None,
        ring: bool = True,
    ) -> tuple[Call, bool, Notices]:
        """Start or join the room's call from device `conn`. Returns (call, replaced).
        `ring`: whether starting rings the room (never a channel: docs/api/calls.md)."""
        notices = Notices()
        call = self.calls.get(room)
        own = call.participants.get(user) if call else None
        if (
            call is not None
            and own is None
            and len(call.participants) >= self.limits.max_participants
        ):
            raise Conflict(f"This call is full ({self.limits.max_participants} people).")
        elsewhere = self.room_of_user.get(user)
        if elsewhere is not None and elsewhere != room:
            self._remove(self.calls[elsewhere], user, now, notices)
        if call is None:
            call = self._start(room, user, video, members if ring else {user}, now, notices)
        ms = int(now * 1000)
        replaced = False
        if own is not None and (
            own.conn == conn or (replaces is not None and own.conn == replaces)
        ):
            # The same device (perhaps back on a new socket): peers keep their connections.
            replaced = True
            own.conn, own.audio, own.video, own.gone_since = conn, audio, video, None
        else:
            # A fresh entry (or a move from another device): peers negotiate anew.
            call.participants[user] = Participant(user, conn, audio, video, ms)
            self.room_of_user[user] = room
        if user != call.started_by:
            call.answered = True
        if user in call.ringing:
            call.ringing.discard(user)
            call.ring_until_of.pop(user, None)
            notices.stop_ring(call, {user}, "answered")
        call.declined.discard(user)
        call.busy.discard(user)
        notices.call_changed(room)
        return call, replaced, notices

    def _start(
        self, room: int, user: int, video: bool, members: set[int], now: float, notices: Notices
    ) -> Call:
        self.last_id = max(self.last_id + 1, int(now * 1000))
        call = Call(self.last_id, room, int(now * 1000), user, video)
        self.calls[room] = call
        notices.started.append(call)
        others = members - {user}
        if len(members) <= self.limits.ring_max_members:
            call.busy = {u for u in others if u in self.room_of_user}
            call.ringing = others - call.busy
            call.rang = bool(call.ringing)
            call.ring_until = now + self.limits.ring_timeout_s
            if call.ringing:
                notices.rings.append((room, frozenset(call.ringing)))
        return call

    def leave(self, room: int, conn: int, now: float) -> Notices:
        """Device `conn` hangs up (nothing happens if it is not in the room's call)."""
        notices = Notices()
        call = self.calls.get(room)
        if call is None:
            return notices
        for p in list(call.participants.values()):
            if p.conn == conn:
                self._remove(call, p.user, now, notices)
        return notices

    def remove_user(self, room: int, user: int, now: float) -> Notices:
        """The user left the room: out of its call, and no longer rung."""
        notices = Notices()
        call = self.calls.get(room)
        if call is None:
            return notices
        # Nothing to tell when the call never concerned them (on several nodes each node
        # hears the leave and asks: one change, not one per node).
        involved = user in call.ringing or user in call.declined or user in call.busy
        if user in call.ringing:
            call.ringing.discard(user)
            call.ring_until_of.pop(user, None)
            notices.stop_ring(call, {user}, "ended")
        call.declined.discard(user)
        call.busy.discard(user)
        if user in call.participants:
            notices.removed.append((room, call.participants[user].conn))
            self._remove(call, user, now, notices)
        elif involved:
            notices.call_changed(room)
            self._settle(call, now, notices)
        return notices

    def decline(self, room: int, user: int, now: float) -> Notices:
        notices = Notices()
        call = self.calls.get(room)
        if call is None:
            raise NotFound("There is no call in this room.")
        if user in call.ringing:
            call.ringing.discard(user)
            call.ring_until_of.pop(user, None)
            call.declined.add(user)
            notices.stop_ring(call, {user}, "declined")
            notices.call_changed(room)
            self._settle(call, now, notices)
        return notices

    def ring(self, room: int, by: int, user: int, members: set[int], now: float) -> Notices:
        """A participant rings one member on purpose (any room, the caller's choice)."""
        notices = Notices()
        call = self.calls.get(room)
        if call is None or by not in call.participants:
            raise NotFound("You are not in this room's call.")
        if user == by:
            raise BadRequest("You cannot ring yourself.")
        if user not in members:
            raise NotFound("No such member of this room.")
        if user in call.participants or user in call.ringing:
            return notices  # already there, or already being rung
        call.declined.discard(user)
        if self.room_of_user.get(user, room) != room:
            call.busy.add(user)
        else:
            call.busy.discard(user)
            call.ringing.add(user)
            call.ring_until_of[user] = now + self.limits.ring_timeout_s
            notices.rung.append((room, user, by))
        notices.call_changed(room)
        return notices

    def update(
        self, room: int, conn: int, *, audio: bool, video: bool, screen: bool
    ) -> tuple[Call, Notices]:
        notices = Notices()
        call = self.calls.get(room)
        p = next((p for p in call.participants.values() if p.conn == conn), None) if call else None
        if call is None or p is None:
            raise NotFound("This device is not in the room's call.")
        if (p.audio, p.video, p.screen) != (audio, video, screen):
            p.audio, p.video, p.screen = audio, video, screen
            notices.call_changed(room)
        return call, notices

    def disconnected(self, conn: int, now: float) -> Notices:
        """A socket closed: its entry waits `rejoin_grace_s` for a `replaces`."""
        notices = Notices()
        for call in self.calls.values():
            for p in call.participants.values():
                if p.conn == conn and p.gone_since is None:
                    p.gone_since = now
                    notices.call_changed(call.room)
        return notices

    def back(self, conn: int) -> Notices:
        """A device marked away that is connected after all (several nodes: its node was
        taken for dead, then renewed): present again, keeping its seat."""
        notices = Notices()
        for call in self.calls.values():
            for p in call.participants.values():
                if p.conn == conn and p.gone_since is not None:
                    p.gone_since = None
                    notices.call_changed(call.room)
        return notices

    # -- time ----------------------------------------------------------------------------

    def end_all(self, now: float) -> Notices:
        """The server stops: every call ends now, and its record says for how long."""
        notices = Notices()
        for call in list(self.calls.values()):
            for user in call.participants:
                self.room_of_user.pop(user, None)
            call.participants.clear()
            self._settle(call, now, notices)
        notices.ended = dict.fromkeys(notices.ended, "shutdown")
        return notices

    def shift_clock(self, delta_s: float) -> None:
        """The wall clock stepped (clock/steps.py): keep every timer's real time left."""
        for call in self.calls.values():
            call.ring_until += delta_s
            for user in call.ring_until_of:
                call.ring_until_of[user] += delta_s
            for p in call.participants.values():
                if p.gone_since is not None:
                    p.gone_since += delta_s

    def next_deadline(self) -> float | None:
        deadlines: list[float] = []
        for call in self.calls.values():
            deadlines.extend(call.ring_deadline(u) for u in call.ringing)
            for p in call.participants.values():
                if p.gone_since is not None:
                    deadlines.append(p.gone_since + self.limits.rejoin_grace_s)
        return min(deadlines, default=None)

    def tick(self, now: float) -> Notices:
        """Rings that timed out and absent devices whose grace ran out."""
        notices = Notices()
        for call in list(self.calls.values()):
            out = {u for u in call.ringing if now >= call.ring_deadline(u)}
            if out:
                notices.stop_ring(call, out, "timeout")
                call.ringing -= out
                for user in out:
                    call.ring_until_of.pop(user, None)
                notices.call_changed(call.room)
                self._settle(call, now, notices)
            for p in list(call.participants.values()):
                if p.gone_since is not None and now >= p.gone_since + self.limits.rejoin_grace_s:
                    self._remove(call, p.user, now, notices)
        return notices

    # -- internals -----------------------------------------------------------------------

    def _remove(self, call: Call, user: int, now: float, notices: Notices) -> None:
        if call.participants.pop(user, None) is not None:
            self.room_of_user.pop(user, None)
            notices.call_changed(call.room)
        self._settle(call, now, notices)

    def _settle(self, call: Call, now: float, notices: Notices) -> None:
        """End a call nobody is in, or one whose ring ended unanswered."""
        unanswered = call.rang and not call.answered and not call.ringing
        if call.participants and not (unanswered and len(call.participants) <= 1):
            return
        if self.calls.get(call.room) is not call:
            return
        del self.calls[call.room]
        if not call.participants:
            notices.ended[call.room] = "empty"
        else:
            notices.ended[call.room] = "declined" if call.declined else "unanswered"
        for user in call.participants:
            self.room_of_user.pop(user, None)
        call.participants.clear()
        ended_at = int(now * 1000)
        event = "missed" if call.rang and not call.answered else "ended"
        duration = max(0, ended_at - call.started_at)
        notices.finished.append(
            Finished(call.room, call.id, call.started_by, event, ended_at, duration)
        )
        notices.stop_ring(call, set(call.ringing), "ended")
        call.ringing.clear()
        notices.call_changed(call.room)
