"""The echo bot: hears call frames on its virtual device, answers rings, echoes media.

Limits: at most `turn.test_calls` echo calls at once (a further ring is declined; the
call registry also keeps one account in one call at a time, so today that is one), and
each ends after `turn.test_call_max_s`. aiortc decodes and re-encodes what it echoes
(about 8 % of an x86 core per 360p video stream), which is why both are small.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ..chat import signalling
from ..errors import AppError
from ..rtc.policy import canonical_address
from ..turn.builtin import TurnService
from .account import echo_user_id, ensure_echo_user
from .device import BotDevice, Frame

if TYPE_CHECKING:
    from ..state.services import Services
    from .session import EchoSession

log = logging.getLogger(__name__)


class EchoBot:
    def __init__(self, svc: Services, turn: TurnService) -> None:
        self.svc = svc
        self.turn = turn
        self.device: BotDevice | None = None
        self.sessions: dict[int, EchoSession] = {}  # by room
        self.seats: dict[int, dict[int, tuple[int, int]]] = {}  # room → user → (conn, joined)
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._answering: set[int] = set()  # rooms whose ring is being answered

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        user_id = await echo_user_id(self.svc)
        if user_id is not None:
            await _load_media()
            self._register(user_id)

    async def ensure(self) -> int:
        """The Echo account, created and listening (for `POST /api/test-call`)."""
        user_id = await ensure_echo_user(self.svc)
        if self.device is not None and self.device.closed:
            # Closed under us (Echo deactivated, then allowed again): listen anew.
            self.svc.hub.unregister(self.device, self.svc.now_ms())
            self.device = None
        if self.device is None:
            await _load_media()
            self._register(user_id)
        return user_id

    def _register(self, user_id: int) -> None:
        self.device = BotDevice(user_id, self._on_frame)
        self.svc.hub.register(self.device)

    async def stop(self) -> None:
        for room in list(self.sessions):
            self._hang_up(room)
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=5)
        if self.device is not None:
            self.svc.hub.unregister(self.device, self.svc.now_ms())
            self.device = None

    # -- frames --------------------------------------------------------------------------

    def _on_frame(self, frame: Frame) -> None:
        # Never act inside the sender's call (the call service is publishing): next turn.
        kind, room = frame.get("type"), frame.get("room")
        if not isinstance(room, int):
            return
        loop = asyncio.get_running_loop()
        if kind == "rtc.ring":
            call = frame.get("call")
            if isinstance(call, dict) and isinstance(call.get("id"), int):
                loop.call_soon(self._spawn, self._answer(room, call["id"]))
        elif kind == "rtc.call":
            loop.call_soon(self._call_changed, room, frame.get("call"))
        elif kind == "rtc.signal":
            loop.call_soon(self._signal_in, room, frame)

    async def _answer(self, room: int, call_id: int) -> None:
        device = self.device
        if device is None or device.closed or room in self.sessions or room in self._answering:
            return
        # On several nodes each one's bot hears the ring: the first to claim it answers
        # (one that knows the room: a node may hear a ring before the membership).
        if not self.svc.hub.is_member(device.user_id, room):
            return
        if not await self.svc.calls.claim(f"echo:{call_id}:{device.user_id}"):
            return
        self._answering.add(room)
        try:
            if len(self.sessions) + len(self._answering) > self.svc.settings.turn.test_calls:
                await self.svc.calls.decline(device.user_id, room)
                return
            call, _ = await self.svc.calls.join(device, room, audio=True, video=True)
        except AppError as exc:
            log.info("echo: cannot answer in room %d: %s", room, exc.message)
            return
        finally:
            self._answering.discard(room)
        if self.device is not device or device.closed:
            return
        # Imported here for start-up time: aiortc and PyAV load only for servers whose users
        # make test calls (_load_media has read them already, off the loop).
        from .media import ice_configuration
        from .session import EchoSession

        urls = []
        if self.turn.running:
            urls = [f"turn:{self.turn.url_host(None)}:{self.turn.port}?transport=udp"]
        credentials = self.turn.credentials(device.user_id, self.svc.clock(), urls)
        config = ice_configuration(credentials)
        session = EchoSession(
            room, int(call["id"]), device.id, config, self._signal_out(room), self._may_reach
        )
        self.sessions[room] = session
        self._timers[room] = asyncio.get_running_loop().call_later(
            self.svc.settings.turn.test_call_max_s, self._hang_up, room
        )
        self._seat(room, call)
        for conn in self._remote_conns(call):
            self._spawn(session.connect(conn))  # the newcomer offers (docs/api/calls.md)

    def _call_changed(self, room: int, call: Any) -> None:
        session = self.sessions.get(room)
        if session is None:
            return
        if not isinstance(call, dict) or call.get("id") != session.call_id:
            self._hang_up(room)  # the call ended (or another began)
            return
        self._seat(room, call)
        if not any(p["user"] != self._user() for p in call["participants"]):
            self._hang_up(room)  # the caller left: nobody to echo
            return
        # A participant whose socket dropped keeps its media connection: the call survives
        # a WebSocket reconnect (`replaces`); only those who left lose theirs.
        self._spawn(session.drop(self._remote_conns(call, connected_only=False)))

    def _seat(self, room: int, call: dict[str, Any]) -> None:
        """Follow `replaces`: same user, same joined_at, new conn: the connection moves."""
        session = self.sessions[room]
        seats = self.seats.setdefault(room, {})
        for p in call["participants"]:
            before = seats.get(p["user"])
            if before is not None and before[1] == p["joined_at"] and before[0] != p["conn"]:
                peer = session.peers.pop(before[0], None)
                if peer is not None:
                    peer.conn = p["conn"]
                    session.peers[p["conn"]] = peer
            seats[p["user"]] = (p["conn"], p["joined_at"])

    def _remote_conns(self, call: dict[str, Any], *, connected_only: bool = True) -> set[int]:
        me = self._user()
        return {
            p["conn"]
            for p in call["participants"]
            if p["user"] != me and (p["connected"] or not connected_only)
        }

    def _signal_in(self, room: int, frame: Frame) -> None:
        session = self.sessions.get(room)
        data, sender = frame.get("data"), frame.get("from")
        if session is None or not isinstance(data, dict) or not isinstance(sender, int):
            return
        if data.get("call") != session.call_id or frame.get("user") == self._user():
            return
        user = frame.get("user")
        polite = isinstance(user, int) and self._user() > user
        self._spawn(session.on_signal(sender, data, polite=polite))

    def _signal_out(self, room: int) -> Callable[[int, dict[str, Any]], None]:
        def send(to: int, data: dict[str, Any]) -> None:
            if self.device is None:
                return
            try:
                signalling.relay(self.svc, self.device, room, to, data)
            except AppError:
                log.debug("echo: device %d is gone", to)

        return send

    def _hang_up(self, room: int) -> None:
        session = self.sessions.pop(room, None)
        self.seats.pop(room, None)
        timer = self._timers.pop(room, None)
        if timer is not None:
            timer.cancel()
        if session is None:
            return
        if self.device is not None:
            self._spawn(self._leave(self.device, room))
        self._spawn(session.close())

    async def _leave(self, device: BotDevice, room: int) -> None:
        with contextlib.suppress(AppError):
            await self.svc.calls.leave(device, room)

    def _may_reach(self, host: str, port: int) -> bool:
        """Where the bot's own ICE checks may go: the TURN peer policy's answer (office
        subnets, never loopback or link-local unless the test switch is on)."""
        if self.turn.server is not None:
            return self.turn.policy.current.allows(host, port)
        return _not_loopback(host)

    def _user(self) -> int:
        return self.device.user_id if self.device is not None else 0

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work, name="echo-bot")
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("echo bot step failed", exc_info=task.exception())


def _not_loopback(host: str) -> bool:
    addr = canonical_address(host)
    return addr is not None and not (addr.is_loopback or addr.is_link_local)


async def _load_media() -> None:
    """Import aiortc and PyAV off the loop (a second of file reads) and only for servers
    whose users ever made a test call."""
    await asyncio.to_thread(importlib.import_module, "appliance.echo_bot.session")


def echo_ctx(bot: EchoBot) -> Callable[[web.Application], AsyncIterator[None]]:
    """Start after the database and TURN (the bot needs both); stop before them."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        await bot.start()
        yield
        await bot.stop()

    return ctx
