"""``pychat turn`` and ``python -m appliance.rtc``: run the STUN/TURN server alone.

``add_turn_arguments`` fills an argparse parser; ``run_turn`` runs until SIGTERM or
SIGINT and returns the exit status (0 stopped cleanly, 1 could not start, 2 bad
configuration). When ready it prints one flushed line:
``TURN listening on HOST:PORT (udp+tcp), relay RELAY:LOW-HIGH``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import logging
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from ..system.netif import IPInterface, interface_addresses
from .credentials import RestAuth, SecretFileError, load_or_create_secret
from .limits import TurnLimits
from .policy import IPNetwork, PeerPolicy, canonical_address, usable_networks
from .server import TurnServer

log = logging.getLogger(__name__)


def add_turn_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--listen", default="0.0.0.0:3478", metavar="HOST:PORT",
        help="UDP and TCP address for STUN/TURN (default 0.0.0.0:3478; port 0 picks one)",
    )  # fmt: skip
    parser.add_argument(
        "--relay-ports", default="49152-65535", metavar="LOW-HIGH",
        help="UDP port range for relayed addresses (default 49152-65535)",
    )  # fmt: skip
    parser.add_argument(
        "--secret-file", required=True, type=Path, metavar="FILE",
        help="TURN REST shared secret, mode 0600; created if missing",
    )  # fmt: skip
    parser.add_argument(
        "--relay-address", default=None, metavar="IP",
        help="address relays bind to and advertise (default: the listen address, or the "
        "first non-loopback IPv4 interface address when listening on all addresses)",
    )  # fmt: skip
    parser.add_argument(
        "--allow-subnet", action="append", default=None, metavar="CIDR",
        help="office subnet peers may be in (repeatable; default: this device's subnets)",
    )  # fmt: skip
    parser.add_argument("--realm", default="pychat", help="STUN realm (default pychat)")
    parser.add_argument("--max-allocations", type=int, default=TurnLimits.max_allocations)
    parser.add_argument(
        "--max-allocations-per-user", type=int, default=TurnLimits.max_allocations_per_user
    )
    parser.add_argument("--no-tcp", action="store_true", help="listen on UDP only")
    parser.add_argument(
        "--allow-loopback-peers", action="store_true",
        help="TESTS ONLY: allow relaying to 127.0.0.0/8 and ::1",
    )  # fmt: skip
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")


def parse_host_port(text: str, key: str) -> tuple[str, int]:
    host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isdigit():
        raise ValueError(f"{key}: expected HOST:PORT, got {text!r}")
    host = host.removeprefix("[").removesuffix("]")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"{key}: {host!r} is not an IP address") from None
    port = int(port_text)
    if not 0 <= port <= 65535:
        raise ValueError(f"{key}: port must be 0-65535")
    return host, port


def parse_port_range(text: str, key: str) -> tuple[int, int]:
    low_text, sep, high_text = text.partition("-")
    if not sep or not low_text.isdigit() or not high_text.isdigit():
        raise ValueError(f"{key}: expected LOW-HIGH, got {text!r}")
    low, high = int(low_text), int(high_text)
    if not 1024 <= low <= high <= 65535:
        raise ValueError(f"{key}: must be within 1024-65535 with LOW <= HIGH")
    return low, high


@dataclass(frozen=True)
class TurnConfig:
    listen: tuple[str, int]
    relay_ports: tuple[int, int]
    secret_file: Path
    relay_address: str | None
    allow_subnets: tuple[IPNetwork, ...] | None
    realm: str
    limits: TurnLimits
    tcp: bool
    allow_loopback_peers: bool

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> TurnConfig:
        relay_address = args.relay_address
        if relay_address is not None and canonical_address(relay_address) is None:
            raise ValueError(f"turn.relay_address: {relay_address!r} is not an IP address")
        subnets: tuple[IPNetwork, ...] | None = None
        if args.allow_subnet:
            try:
                subnets = tuple(ipaddress.ip_network(s, strict=False) for s in args.allow_subnet)
            except ValueError as exc:
                raise ValueError(f"turn.allow_subnet: {exc}") from None
        if not args.realm or len(args.realm) > 127:
            raise ValueError("turn.realm: must be 1-127 characters")
        return cls(
            listen=parse_host_port(args.listen, "turn.listen"),
            relay_ports=parse_port_range(args.relay_ports, "turn.relay_ports"),
            secret_file=args.secret_file,
            relay_address=relay_address,
            allow_subnets=subnets,
            realm=args.realm,
            limits=TurnLimits(
                max_allocations=args.max_allocations,
                max_allocations_per_user=args.max_allocations_per_user,
            ),
            tcp=not args.no_tcp,
            allow_loopback_peers=args.allow_loopback_peers,
        )


def build_policy(config: TurnConfig, interfaces: list[IPInterface], relay_host: str) -> PeerPolicy:
    """The default policy: peers in the device's own subnets (or ``--allow-subnet``);
    the device's own addresses (and the relay address) only on relay ports."""
    own = {iface.ip for iface in interfaces}
    for host in (relay_host, config.listen[0]):
        addr = canonical_address(host)
        if addr is not None and not addr.is_unspecified:
            own.add(addr)
    networks = config.allow_subnets
    if networks is None:
        networks = usable_networks([iface.network for iface in interfaces])
    return PeerPolicy(
        allowed_networks=networks,
        own_addresses=frozenset(own),
        relay_ports=config.relay_ports,
        allow_loopback=config.allow_loopback_peers,
    )


def pick_relay_host(config: TurnConfig, interfaces: list[IPInterface]) -> str:
    if config.relay_address is not None:
        return config.relay_address
    host = config.listen[0]
    if host not in ("0.0.0.0", "::"):  # noqa: S104 (a check, not a bind)
        return host
    for iface in interfaces:
        if iface.version == 4 and not (iface.ip.is_loopback or iface.ip.is_link_local):
            return str(iface.ip)
    raise ValueError("turn.relay_address: no IPv4 interface address found; set --relay-address")


def _configure_logging(level: str) -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )


async def run_turn(args: argparse.Namespace) -> int:
    _configure_logging(args.log_level)
    try:
        config = TurnConfig.from_args(args)
        secret = await asyncio.to_thread(load_or_create_secret, config.secret_file)
        try:
            interfaces = await asyncio.to_thread(interface_addresses)
        except OSError as exc:
            log.warning("cannot list interface addresses (%s); allow subnets explicitly", exc)
            interfaces = []
        relay_host = pick_relay_host(config, interfaces)
        server = TurnServer(
            config.realm,
            auth=RestAuth(secret),
            peer_filter=build_policy(config, interfaces, relay_host),
            listen=config.listen,
            relay_host=relay_host,
            relay_ports=config.relay_ports,
            limits=config.limits,
            tcp=config.tcp,
        )
    except (ValueError, SecretFileError) as exc:
        print(f"pychat turn: {exc}", file=sys.stderr)
        return 2
    try:
        await server.start()
    except OSError as exc:
        print(f"pychat turn: cannot listen on {args.listen}: {exc.strerror}", file=sys.stderr)
        return 1
    host, port = server.address
    low, high = config.relay_ports
    transports = "udp+tcp" if config.tcp else "udp"
    print(
        f"TURN listening on {host}:{port} ({transports}), relay {relay_host}:{low}-{high}",
        flush=True,
    )
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(ValueError, RuntimeError):
                loop.remove_signal_handler(sig)
        await server.stop()
    return 0
