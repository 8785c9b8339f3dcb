"""The built-in STUN/TURN server inside `pychat serve` (docs/turn.md, issue 6).

The same `TurnServer` that `pychat turn` runs alone starts here as an app cleanup context,
after the database. The TURN REST secret lives in `<data>/turn-secret` (mode 0600, made at
first boot); it signs the credentials `GET /api/turn` hands out and never leaves the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from aiohttp import web

from .config import ConfigError, Settings, parse_listen
from .errors import AppError
from .netif import IPInterface, interface_addresses
from .ratelimit import TokenBuckets
from .rtc.cli import parse_port_range
from .rtc.credentials import (
    RestAuth,
    SecretFileError,
    load_or_create_secret,
    make_turn_credentials,
)
from .rtc.limits import TurnLimits
from .rtc.policy import IPNetwork, PeerPolicy, canonical_address, usable_networks
from .rtc.server import TurnServer

log = logging.getLogger(__name__)

SECRET_FILE = "turn-secret"  # noqa: S105 (a file name)
# The office's addresses change rarely (DHCP); re-reading them is one netlink dump.
_INTERFACE_REFRESH_S = 60.0
_ALL_ADDRESSES = ("*", "0.0.0.0", "::", "")  # noqa: S104 (names, not binds)
_HOST_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


@dataclass(frozen=True)
class TurnConfig:
    """`turn.*` settings, checked; errors name the key."""

    listen: tuple[str, int]
    relay_ports: tuple[int, int]
    relay_address: str | None
    office_subnets: tuple[IPNetwork, ...] | None
    realm: str
    limits: TurnLimits
    credential_ttl_s: int

    @classmethod
    def from_settings(cls, settings: Settings) -> TurnConfig:
        turn = settings.turn
        host, port = parse_listen(turn.listen, name="turn.listen")
        if host in _ALL_ADDRESSES:
            host = "0.0.0.0"  # noqa: S104 (every IPv4 address: the office LAN)
        elif canonical_address(host) is None:
            raise ConfigError(f"turn.listen: {host!r} is not an IP address or *")
        try:
            relay_ports = parse_port_range(turn.relay_ports, "turn.relay_ports")
            limits = TurnLimits(
                max_allocations=turn.max_allocations,
                max_allocations_per_user=turn.max_allocations_per_user,
            )
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        if not 1 <= len(turn.realm) <= 127 or not turn.realm.isprintable():
            raise ConfigError("turn.realm: must be 1-127 printable characters")
        relay_address = turn.relay_address or None
        if relay_address is not None and canonical_address(relay_address) is None:
            raise ConfigError(f"turn.relay_address: {relay_address!r} is not an IP address")
        return cls(
            listen=(host, port),
            relay_ports=relay_ports,
            relay_address=relay_address,
            office_subnets=parse_subnets(turn.office_subnets),
            realm=turn.realm,
            limits=limits,
            credential_ttl_s=turn.credential_ttl_s,
        )


def parse_subnets(text: str) -> tuple[IPNetwork, ...] | None:
    """`"10.0.0.0/8, 192.168.1.0/24"` → networks; empty → None (the device's own subnets)."""
    parts = [p for p in re.split(r"[,\s]+", text.strip()) if p]
    if not parts:
        return None
    try:
        return tuple(ipaddress.ip_network(p, strict=False) for p in parts)
    except ValueError as exc:
        raise ConfigError(f"turn.office_subnets: {exc}") from None


class LivePolicy:
    """The peer policy, rebuilt when the device's addresses change (one `PeerPolicy` at a
    time does every check; swapping it is atomic on the event loop)."""

    def __init__(
        self,
        config: TurnConfig,
        relay_host: str,
        allow_loopback: bool,
        interfaces: list[IPInterface],
    ) -> None:
        self._config = config
        self._relay_host = relay_host
        self._allow_loopback = allow_loopback
        self._interfaces = frozenset(interfaces)
        self.current = self._build(interfaces)

    def __call__(self, host: str, port: int) -> bool:
        return self.current.allows(host, port)

    def update(self, interfaces: list[IPInterface]) -> None:
        seen = frozenset(interfaces)
        if seen == self._interfaces:
            return
        self._interfaces = seen
        self.current = self._build(interfaces)
        log.info("TURN peers now allowed in: %s", _networks(self.current))

    def _build(self, interfaces: list[IPInterface]) -> PeerPolicy:
        own = {iface.ip for iface in interfaces}
        for host in (self._relay_host, self._config.listen[0]):
            addr = canonical_address(host)
            if addr is not None and not addr.is_unspecified:
                own.add(addr)
        networks = self._config.office_subnets
        if networks is None:
            networks = usable_networks([iface.network for iface in interfaces])
        return PeerPolicy(  # warns loudly (again) when loopback peers are allowed
            allowed_networks=networks,
            own_addresses=frozenset(own),
            relay_ports=self._config.relay_ports,
            allow_loopback=self._allow_loopback,
        )


def _networks(policy: PeerPolicy) -> str:
    return ", ".join(map(str, policy.allowed_networks)) or "no subnet (no LAN address yet)"


def pick_relay_host(config: TurnConfig, interfaces: list[IPInterface]) -> str:
    if config.relay_address is not None:
        return config.relay_address
    if config.listen[0] != "0.0.0.0":  # noqa: S104 (a check, not a bind)
        return config.listen[0]
    for iface in interfaces:
        if iface.version == 4 and not (iface.ip.is_loopback or iface.ip.is_link_local):
            return str(iface.ip)
    raise ConfigError("turn.relay_address: no IPv4 interface address found; set it")


def _read_interfaces() -> list[IPInterface]:
    try:
        return interface_addresses()
    except OSError as exc:
        log.warning("cannot list interface addresses (%s); set turn.office_subnets", exc)
        return []


class TurnService:
    """What the web layer needs of the running TURN server: is it on, where, the secret."""

    def __init__(self, settings: Settings, *, allow_loopback_peers: bool = False) -> None:
        self.settings = settings
        self.allow_loopback_peers = allow_loopback_peers
        self.enabled = settings.turn.enabled == "on" or (
            settings.turn.enabled == "auto" and settings.appliance_mode
        )
        self.config = TurnConfig.from_settings(settings)  # a bad setting stops the start
        self.server: TurnServer | None = None
        # GET /api/turn per user: a call fetches it once; a burst covers reloads.
        self.request_limits: TokenBuckets[int] = TokenBuckets(0.5, 10)
        self.relay_host = ""
        self._secret = b""

    @property
    def running(self) -> bool:
        return self.server is not None

    @property
    def port(self) -> int:
        return self.server.address[1] if self.server is not None else 0

    def credentials(self, user_id: int, now: float, urls: list[str]) -> dict[str, object]:
        """TURN REST credentials for one user (the secret itself never leaves here);
        without a running server, no URLs and nothing to sign."""
        if not self.running:
            return {"urls": [], "username": "", "credential": "", "ttl": 0}
        return make_turn_credentials(self._secret, user_id, self.config.credential_ttl_s, now, urls)

    def url_host(self, request_host: str | None) -> str:
        """The host for `turn:` URLs: where the browser reached us, when that is an IP
        literal or a LAN name; else the address we listen on or relay from."""
        listen_host = self.config.listen[0]
        if listen_host != "0.0.0.0":  # noqa: S104 (a check, not a bind)
            return _url_literal(listen_host)
        host = _host_without_port(request_host or "")
        if host is not None:
            return host
        return _url_literal(self.relay_host)

    async def start(self) -> None:
        interfaces = await asyncio.to_thread(_read_interfaces)
        self.relay_host = pick_relay_host(self.config, interfaces)
        secret_path = self.settings.data_dir / SECRET_FILE
        try:
            self._secret = await asyncio.to_thread(load_or_create_secret, secret_path)
        except SecretFileError as exc:
            raise ConfigError(str(exc)) from None
        self.policy = LivePolicy(
            self.config, self.relay_host, self.allow_loopback_peers, interfaces
        )
        server = TurnServer(
            self.config.realm,
            auth=RestAuth(self._secret),
            peer_filter=self.policy,
            listen=self.config.listen,
            relay_host=self.relay_host,
            relay_ports=self.config.relay_ports,
            limits=self.config.limits,
        )
        try:
            await server.start()
        except OSError as exc:
            raise AppError(f"turn.listen: cannot listen on {self.settings.turn.listen}: "
                           f"{exc.strerror}") from None  # fmt: skip
        self.server = server
        log.info("TURN peers allowed in: %s", _networks(self.policy.current))

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()
            self.server = None

    async def try_start(self) -> None:
        """Start, or log why not: chat must not go down because calls cannot relay yet
        (no LAN address before DHCP answers, the port held by another program)."""
        try:
            await self.start()
        except (ConfigError, AppError) as exc:
            log.error("TURN server not started (retrying every minute): %s", exc)

    async def follow_addresses(self) -> None:
        """Keep the office subnets in step with the device's addresses (DHCP, Wi-Fi)."""
        while True:
            await asyncio.sleep(_INTERFACE_REFRESH_S)
            if self.server is None:
                await self.try_start()
            else:
                self.policy.update(await asyncio.to_thread(_read_interfaces))


def _url_literal(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _host_without_port(header: str) -> str | None:
    """An IP literal or a LAN name (`pychat.local`, `pychat`, `localhost`) from a Host
    header, ready for a URL; None for anything else (never reflect junk)."""
    text = header.strip().lower()
    if text.startswith("["):
        inner, sep, _ = text[1:].partition("]")
        addr = canonical_address(inner) if sep else None
        return f"[{addr}]" if addr is not None and addr.version == 6 else (
            str(addr) if addr is not None else None
        )  # fmt: skip
    host = text.rsplit(":", 1)[0] if text.count(":") == 1 else text
    try:
        return str(ipaddress.IPv4Address(host))
    except ValueError:
        pass
    labels = host.split(".")
    if len(host) > 253 or not all(_HOST_LABEL.match(label) for label in labels):
        return None
    if len(labels) == 1 or labels[-1] == "local":
        return host
    return None


TURN = web.AppKey("turn", TurnService)


def turn_ctx(service: TurnService) -> Callable[[web.Application], AsyncIterator[None]]:
    """The cleanup context: start after the database, stop before it closes."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        if not service.enabled:
            yield
            return
        await service.try_start()
        follower = asyncio.create_task(service.follow_addresses(), name="turn-addresses")
        yield
        follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follower
        await service.stop()

    return ctx
