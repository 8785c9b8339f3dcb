"""The `turn.*` settings checked (errors name the key), and hosts for `turn:` URLs."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from ..config import ConfigError, Settings, parse_listen
from ..rtc.cli import parse_port_range
from ..rtc.limits import TurnLimits
from ..rtc.policy import IPNetwork, canonical_address

ALL_ADDRESSES = ("*", "0.0.0.0", "::", "")  # noqa: S104 (names, not binds)
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
    external: tuple[str, int] | None  # a `pychat turn` on another device

    @classmethod
    def from_settings(cls, settings: Settings) -> TurnConfig:
        turn = settings.turn
        host, port = parse_listen(turn.listen, name="turn.listen")
        if host in ALL_ADDRESSES:
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
            external=parse_external(turn.external, enabled=turn.enabled),
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


def parse_external(text: str, *, enabled: str) -> tuple[str, int] | None:
    """`HOST:PORT` of a separate `pychat turn` (the relay on a second device), or None."""
    if not text.strip():
        return None
    if enabled == "on":
        raise ConfigError("turn.external: the built-in server is on (turn.enabled); use one")
    host, sep, port_text = text.strip().rpartition(":")
    host = host.removeprefix("[").removesuffix("]").lower()
    port_ok = port_text.isdigit() and 1 <= int(port_text) <= 65535
    name_ok = canonical_address(host) is not None or _is_host_name(host)
    if not (sep and port_ok and name_ok):
        raise ConfigError("turn.external: must be HOST:PORT (an IP address or a host name)")
    return host, int(port_text)


def _is_host_name(host: str) -> bool:
    labels = host.split(".")
    return 0 < len(host) <= 253 and all(_HOST_LABEL.match(label) for label in labels)


def url_literal(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def host_from_header(header: str) -> str | None:
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
    if not _is_host_name(host):
        return None
    labels = host.split(".")
    if len(labels) == 1 or labels[-1] == "local":
        return host
    return None
