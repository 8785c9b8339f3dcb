"""LAN discovery by mDNS: announce `<name>.local` and the services while the server runs.

The announcer publishes `<name>.local` (A and AAAA for every LAN address, never loopback)
and two DNS-SD services on the HTTPS port: `_https._tcp` and `_pychat._tcp` (TXT `version`,
`path=/`). One supervisor task owns the zeroconf instance; it

- reads the interface addresses in a thread every `poll_interval` s and follows changes
  (sockets, records, goodbyes for addresses that went away);
- claims a name by probing first: when another device answers for `<name>.local` or one of
  the service names, it takes `<name>-2`, `<name>-3`, ... and reports the name in use;
- keeps watching after that (two devices that started at the same moment, two networks
  joined): the device holding the greater address keeps the name, the other moves on;
- after a rename keeps answering for the former name for `rename_grace` s (links handed
  out a moment before, such as the wizard's, still resolve; the certificate names it too,
  tls/device.py), unless another device claims it meanwhile;
- withdraws with goodbye packets on stop.

mDNS is answered over IPv4 multicast (224.0.0.251); AAAA records travel in those answers.
Only zeroconf's asyncio API is used; nothing here blocks the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

from aiohttp import web
from zeroconf import IPVersion
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

from .. import __version__
from ..system.netif import IPInterface, interface_addresses
from .device_name import RENAME_GRACE_S, check_device_name
from .names import (
    DEFAULT_NAME,
    SERVICE_TYPES,
    Claim,
    ClaimWatch,
    IPAddress,
    claimed,
    goodbye,
    lan_addresses,
    with_suffix,
    yields_to,
)
from .open_at import write_announced_name

__all__ = [
    "DEFAULT_NAME",
    "Announcer",
    "announcer_ctx",
    "check_device_name",
    "name_in_use",
]

log = logging.getLogger(__name__)

POLL_INTERVAL_S = 30.0
PROBE_TIME_S = 1.0
MAX_SUFFIX = 99
DEFEND_EVERY_S = 1.0  # RFC 6762 §6: at most one multicast of a record per second

NameListener = Callable[[str | None], None]
AddressReader = Callable[[], list[IPInterface]]


class Announcer:
    """Announces this device by mDNS; `name` is the name actually in use (None: silent)."""

    def __init__(
        self,
        https_port: int,
        *,
        version: str = __version__,
        poll_interval: float = POLL_INTERVAL_S,
        probe_time: float = PROBE_TIME_S,
        read_addresses: AddressReader = interface_addresses,
        rename_grace: float = RENAME_GRACE_S,
        record_in: Path | None = None,
    ) -> None:
        if not 1 <= https_port <= 65535:
            raise ValueError("mDNS: the HTTPS port must be from 1 to 65535")
        self.https_port = https_port
        self._version = version
        self._poll_interval = poll_interval
        self._probe_time = probe_time
        self._read_addresses = read_addresses
        self._rename_grace = rename_grace
        self._record_in = record_in  # the data folder: <data>/announced-name (open_at.py)
        self._recorded: str | None = None
        self._listeners: list[NameListener] = []
        self._base = DEFAULT_NAME
        self._name: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        # zeroconf state, owned by the supervisor task
        self._aiozc: AsyncZeroconf | None = None
        self._v4: tuple[IPv4Address, ...] = ()
        self._v6: tuple[IPv6Address, ...] = ()
        self._own: set[IPAddress] = set()  # every address ever ours: old echoes are no claim
        self._infos: list[AsyncServiceInfo] = []
        self._watch: ClaimWatch | None = None
        self._registered_base = ""
        self._number = 1
        self._lost = False
        self._defend = False
        self._last_defend = float("-inf")
        self._late_goodbye: tuple[str, tuple[IPAddress, ...]] | None = None
        self._published: str | None = None
        # Former names still answered after a rename: their services, watch and deadline.
        self._former: dict[str, _Former] = {}

    @property
    def name(self) -> str | None:
        """The name announced now (`office-2` when `office` is taken), None when silent."""
        return self._name

    @property
    def former_names(self) -> tuple[str, ...]:
        """Names before a rename still answered for their grace period."""
        return tuple(self._former)

    @property
    def addresses(self) -> tuple[str, ...]:
        """The addresses announced now."""
        return tuple(map(str, self._announced())) if self._name else ()

    def add_listener(self, listener: NameListener) -> Callable[[], None]:
        """Call `listener(name)` whenever the name in use changes; returns the remover."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def ctx(
        self, device_name: Callable[[], Awaitable[str]]
    ) -> Callable[[web.Application], AsyncIterator[None]]:
        """`announcer_ctx(self, device_name)`, for an app that did not import this module."""
        return announcer_ctx(self, device_name)

    async def start(self, name: str) -> None:
        """Start announcing `name` in the background (a bad name falls back to the default)."""
        if self._task is not None:
            raise RuntimeError("the announcer is already running")
        self._base = _valid_or_default(name)
        self._task = asyncio.create_task(self._supervise(), name="mdns-announcer")

    async def set_name(self, name: str) -> None:
        """Announce under a new name from now on (the wizard or the admin page changed it)."""
        self._base = check_device_name(name)
        self._wake.set()

    async def stop(self) -> None:
        """Withdraw everything (goodbye packets) and close the sockets."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._close()

    async def name_in_use(self, name: str, timeout: float = 2.0) -> bool:  # noqa: ASYNC109
        """Whether another device announces `name`; our own announcement does not count."""
        if self._aiozc is None:
            return await name_in_use(name, timeout, read_addresses=self._read_addresses)
        return await claimed(self._aiozc.zeroconf, check_device_name(name), self._own, timeout)

    async def _supervise(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self._step()
            except Exception:
                # mDNS trouble must not take the chat server down: log it, start over later.
                log.exception("mDNS announcement failed; retrying in %.0f s", self._poll_interval)
                await self._close()
            await self._record_name()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._next_wait())

    async def _record_name(self) -> None:
        """Keep `<data>/announced-name` up to date for the console login banner."""
        name = self._name
        if self._record_in is None or name is None or name == self._recorded:
            return
        try:
            await asyncio.to_thread(write_announced_name, self._record_in, name)
        except OSError as e:
            log.warning("mDNS: could not record the announced name: %s", e)
        self._recorded = name

    def _next_wait(self) -> float:
        """The poll interval, or less when a former name's time is up sooner."""
        if not self._former:
            return self._poll_interval
        now = asyncio.get_running_loop().time()
        soonest = min(f.until for f in self._former.values())
        return max(0.0, min(self._poll_interval, soonest - now))

    async def _step(self) -> None:
        v4, v6 = lan_addresses(await asyncio.to_thread(self._read_addresses))
        self._own.update(v4, v6)
        if not v4:
            if self._aiozc is not None:
                log.info("mDNS: no IPv4 address left; silent until one appears")
            await self._close()
            return
        if self._aiozc is None:
            self._aiozc = AsyncZeroconf(
                interfaces=[str(a) for a in v4], ip_version=IPVersion.V4Only
            )
            self._v4, self._v6 = v4, v6
        elif (v4, v6) != (self._v4, self._v6):
            await self._follow_addresses(v4, v6)
        await self._drop_former(expired_only=True)
        if self._infos and self._lost:
            self._number += 1
            self._give_up_name()
        elif self._infos and self._registered_base != self._base:
            self._number = 1
            if self._rename_grace > 0:
                self._retire()
            else:
                await self._withdraw()
        if not self._infos:
            await self._claim(self._number)
        elif self._defend:
            await self._reannounce()

    async def _follow_addresses(
        self, v4: tuple[IPv4Address, ...], v6: tuple[IPv6Address, ...]
    ) -> None:
        assert self._aiozc is not None
        gone = set(self._v4 + self._v6) - set(v4 + v6)
        log.info("mDNS: addresses changed to %s", ", ".join(map(str, v4 + v6)))
        if gone:
            for name in (*([self._name] if self._name else []), *self._former):
                self._aiozc.zeroconf.async_send(goodbye(name, gone))
        if v4 != self._v4:
            await self._aiozc.async_update_interfaces([str(a) for a in v4])
        self._v4, self._v6 = v4, v6
        if self._name is not None:
            self._infos = self._service_infos(self._name)
            await _gather([await self._aiozc.async_update_service(i) for i in self._infos])
        for name, former in self._former.items():
            former.infos = self._service_infos(name)
            await _gather([await self._aiozc.async_update_service(i) for i in former.infos])

    async def _claim(self, number: int) -> None:
        """Probe `base`, `base-2`, ... from `number` on; register the first free one."""
        assert self._aiozc is not None
        zc = self._aiozc.zeroconf
        base = self._base  # set_name() during the probes is acted on at the next step
        while True:
            if number > MAX_SUFFIX:
                raise RuntimeError(f"mDNS: {base}-2 to -{MAX_SUFFIX} are all taken")
            candidate = with_suffix(base, number)
            if candidate in self._former:  # renamed back within the grace period
                await self._drop_former(only=candidate)
            if await claimed(zc, candidate, self._own, self._probe_time):
                log.info("mDNS: %s.local is taken on the LAN", candidate)
                number += 1
                continue
            infos = self._service_infos(candidate)
            watch = ClaimWatch(candidate, self._own, self._on_claim)
            zc.async_add_listener(watch, None)
            # We probed the host and both instance names ourselves (zeroconf's own check
            # looks at instance names only), so zeroconf registers without probing again.
            broadcasts = [
                await self._aiozc.async_register_service(i, cooperating_responders=True)
                for i in infos
            ]
            self._watch, self._infos, self._name = watch, infos, candidate
            self._number, self._registered_base = number, base
            self._lost = self._defend = False
            await _gather(broadcasts)
            if self._late_goodbye is not None:
                zc.async_send(goodbye(*self._late_goodbye))
                self._late_goodbye = None
            self._publish()
            return

    async def _withdraw(self) -> None:
        """Give our name up: unregister both services with goodbyes."""
        assert self._aiozc is not None
        infos = self._forget()
        # One at a time: zeroconf says goodbye to the address records with the last service.
        await _gather([await self._aiozc.async_unregister_service(i) for i in infos])
        self._publish()

    def _retire(self) -> None:
        """Renamed: the current name becomes a former one, still registered (answered) for
        the grace period, no longer defended; another device claiming it gets it."""
        assert self._aiozc is not None and self._name is not None
        name = self._name
        infos = self._forget()
        watch = ClaimWatch(name, self._own, lambda _claim: self._on_former_claim(name))
        self._aiozc.zeroconf.async_add_listener(watch, None)
        until = asyncio.get_running_loop().time() + self._rename_grace
        self._former[name] = _Former(infos, watch, until)
        log.info("mDNS: renamed; %s.local is still answered for %.0f s", name, self._rename_grace)
        self._publish()

    def _on_former_claim(self, name: str) -> None:
        """Another device answers for a former name: it is theirs now (called by zeroconf)."""
        former = self._former.get(name)
        if former is not None and not former.lost:
            log.info("mDNS: another device claims %s.local; no longer answering it", name)
            former.lost = True
            self._wake.set()

    async def _drop_former(self, *, expired_only: bool = False, only: str | None = None) -> None:
        """Stop answering former names: with goodbyes when their time is up, silently (as
        `_give_up_name`) when another device claimed one."""
        if self._aiozc is None:
            return
        zc = self._aiozc.zeroconf
        now = asyncio.get_running_loop().time()
        for name, former in list(self._former.items()):
            if only is not None and name != only:
                continue
            if expired_only and not former.lost and former.until > now:
                continue
            del self._former[name]
            zc.async_remove_listener(former.watch)
            if former.lost:
                zc.registry.async_remove(list(former.infos))
                zc.async_send(goodbye(name, self._announced()))
            else:
                await _gather([await self._aiozc.async_unregister_service(i) for i in former.infos])
                log.info("mDNS: %s.local withdrawn (renamed)", name)

    def _give_up_name(self) -> None:
        """Yield the name to the device that won it (RFC 6762 §9).

        No goodbye for the service records: they are identical to the winner's, and a
        goodbye would wipe its records from every cache. Only our address records go, now
        and once more after our next announcement, because an answer zeroconf had already
        queued (rate limited by up to a second) may still leave after the first goodbye.
        """
        assert self._aiozc is not None and self._name is not None
        name, ours = self._name, self._announced()
        self._aiozc.zeroconf.registry.async_remove(list(self._forget()))
        self._aiozc.zeroconf.async_send(goodbye(name, ours))
        self._late_goodbye = (name, ours)
        self._publish()

    def _forget(self) -> list[AsyncServiceInfo]:
        """Stop watching and announcing the current name; the services it had."""
        assert self._aiozc is not None
        if self._watch is not None:
            self._aiozc.zeroconf.async_remove_listener(self._watch)
        infos, self._infos, self._watch, self._name = self._infos, [], None, None
        return infos

    async def _reannounce(self) -> None:
        """RFC 6762 §9: we keep the name, so answer the other device with our records."""
        assert self._aiozc is not None
        self._defend = False
        loop = asyncio.get_running_loop()
        if loop.time() - self._last_defend < DEFEND_EVERY_S:
            return
        self._last_defend = loop.time()
        await _gather([await self._aiozc.async_update_service(i) for i in self._infos])

    def _on_claim(self, claim: Claim) -> None:
        """Another device answers for our name (called by zeroconf, on the loop)."""
        if self._name is None or self._lost:  # not announcing yet, or already moving on
            return
        if yields_to(claim, self._announced(), f"{self._name}.local."):
            log.warning("mDNS: another device claims %s.local; moving on", self._name)
            self._lost = True
        else:
            self._defend = True
        self._wake.set()

    def _service_infos(self, name: str) -> list[AsyncServiceInfo]:
        addresses = [a.packed for a in self._announced()]
        properties = {"version": self._version, "path": "/"}
        return [
            AsyncServiceInfo(
                kind,
                f"{name}.{kind}",
                port=self.https_port,
                properties=properties,
                server=f"{name}.local.",
                addresses=addresses,
            )
            for kind in SERVICE_TYPES
        ]

    def _announced(self) -> tuple[IPAddress, ...]:
        return (*self._v4, *self._v6)

    def _publish(self) -> None:
        """Tell the listeners when the name in use has changed."""
        name = self._name
        if name == self._published:
            return
        self._published = name
        if name is not None:
            log.info("mDNS: announcing %s.local on port %d", name, self.https_port)
        for listener in list(self._listeners):
            try:
                listener(name)
            except Exception:
                log.exception("mDNS name listener failed")

    async def _close(self) -> None:
        if self._aiozc is not None:
            for former in self._former.values():
                self._aiozc.zeroconf.async_remove_listener(former.watch)
        self._former.clear()  # unregistered with the rest when zeroconf closes
        aiozc, self._aiozc = self._aiozc, None
        self._infos, self._watch, self._name = [], None, None
        self._v4, self._v6 = (), ()
        self._lost = self._defend = False
        self._number = 1
        self._late_goodbye = None
        self._publish()
        if aiozc is not None:
            await aiozc.async_close()  # goodbyes for whatever is still registered


async def name_in_use(
    name: str,
    timeout: float = 2.0,  # noqa: ASYNC109 (how long to listen for answers, not a deadline)
    *,
    read_addresses: AddressReader = interface_addresses,
) -> bool:
    """Whether another device on the LAN announces `<name>.local` or a service named `name`.

    Sends mDNS queries on this device's LAN interfaces: call it only when mDNS is enabled.
    Answers carrying this device's own addresses do not count. ValueError for a bad name.
    """
    name = check_device_name(name)
    v4, v6 = lan_addresses(await asyncio.to_thread(read_addresses))
    if not v4:
        return False  # no LAN to share a name with
    aiozc = AsyncZeroconf(interfaces=[str(a) for a in v4], ip_version=IPVersion.V4Only)
    try:
        return await claimed(aiozc.zeroconf, name, {*v4, *v6}, timeout)
    finally:
        await aiozc.async_close()


def announcer_ctx(
    announcer: Announcer, device_name: Callable[[], Awaitable[str]]
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup_ctx: announce from startup (name read by `device_name()`) until shutdown."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        await announcer.start(await device_name())
        try:
            yield
        finally:
            await announcer.stop()

    return ctx


async def _gather(broadcasts: list[Awaitable[object]]) -> None:
    await asyncio.gather(*broadcasts)


@dataclass
class _Former:
    """A name before a rename: its services (still registered), the watch for another
    device claiming it, and the loop time its grace period ends."""

    infos: list[AsyncServiceInfo]
    watch: ClaimWatch
    until: float
    lost: bool = False


def _valid_or_default(name: str) -> str:
    try:
        return check_device_name(name)
    except ValueError:
        log.warning("mDNS: device name %r is not a valid name; using %r", name, DEFAULT_NAME)
        return DEFAULT_NAME
