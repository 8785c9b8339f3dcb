"""The built-in STUN/TURN server inside `pychat serve` (docs/turn.md, issue 6).

The same `TurnServer` that `pychat turn` runs alone starts here as an app cleanup context,
after the database. The TURN REST secret lives in `<data>/turn-secret` (mode 0600, made at
first boot); it signs the credentials `GET /api/turn` hands out and never leaves the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from ..config import ConfigError, Settings
from ..errors import AppError
from ..rtc.credentials import (
    RestAuth,
    SecretFileError,
    load_or_create_secret,
    make_turn_credentials,
)
from ..rtc.policy import PeerPolicy, canonical_address, usable_networks
from ..rtc.server import TurnServer
from ..state.app_keys import SERVICES
from ..storage import users
from ..system.netif import IPInterface, interface_addresses
from .config import TurnConfig, host_from_header, url_literal

log = logging.getLogger(__name__)

SECRET_FILE = "turn-secret"  # noqa: S105 (a file name)
# The office's addresses change rarely (DHCP); re-reading them is one netlink dump.
_INTERFACE_REFRESH_S = 60.0


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
        self.config = TurnConfig.from_settings(settings)  # a bad setting stops the start
        # In-process unless the relay runs on another device (turn.external).
        self.enabled = self.config.external is None and (
            settings.turn.enabled == "on"
            or (settings.turn.enabled == "auto" and settings.appliance_mode)
        )
        self.server: TurnServer | None = None
        self.relay_host = ""
        self._secret = b""
        # Users whose credentials the TURN server refuses (deactivated accounts), as the
        # user part of the REST username: kept in step by `account_changed`.
        self.revoked: set[str] = set()

    @property
    def running(self) -> bool:
        """A TURN server is there for clients: ours, or the one on another device."""
        return self.server is not None or (self.config.external is not None and bool(self._secret))

    @property
    def port(self) -> int:
        if self.config.external is not None:
            return self.config.external[1]
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
        if self.config.external is not None:
            return url_literal(self.config.external[0])
        listen_host = self.config.listen[0]
        if listen_host != "0.0.0.0":  # noqa: S104 (a check, not a bind)
            return url_literal(listen_host)
        host = host_from_header(request_host or "")
        if host is not None:
            return host
        return url_literal(self.relay_host)

    async def load_secret(self) -> None:
        secret_path = self.settings.data_dir / SECRET_FILE
        try:
            self._secret = await asyncio.to_thread(load_or_create_secret, secret_path)
        except SecretFileError as exc:
            raise ConfigError(str(exc)) from None

    async def start(self) -> None:
        interfaces = await asyncio.to_thread(_read_interfaces)
        self.relay_host = pick_relay_host(self.config, interfaces)
        await self.load_secret()
        self.policy = LivePolicy(
            self.config, self.relay_host, self.allow_loopback_peers, interfaces
        )
        server = TurnServer(
            self.config.realm,
            auth=RestAuth(self._secret, revoked=self.revoked.__contains__),
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

    def account_changed(self, user_id: int, deactivated: bool) -> None:
        """A deactivated user's credentials stop working at once, and the relays they hold
        close; credentials work again when the account is reactivated."""
        user = str(user_id)
        if not deactivated:
            self.revoked.discard(user)
            return
        self.revoked.add(user)
        if self.server is None:
            return
        table = self.server.handler.table
        ended = [a.five_tuple for a in table if a.credential.user == user]
        for five_tuple in ended:
            table.remove(five_tuple)
        if ended:
            log.info("TURN: ended %d allocation(s) of deactivated user %s", len(ended), user)

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


def turn_ctx(service: TurnService) -> Callable[[web.Application], AsyncIterator[None]]:
    """The cleanup context: start after the database, stop before it closes."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        svc = app[SERVICES]
        service.revoked.update(
            str(row["id"]) for row in await users.all_users(svc.db) if row["deactivated"]
        )
        svc.account_listeners.append(service.account_changed)
        if not service.enabled:
            if service.config.external is not None:
                await service.load_secret()  # signs credentials for the other device
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
