"""Where people open the app: `https://<name>.local` and the device's LAN addresses, for
the console banner, the systemd status and the login prompt, never the bind address
(`https://0.0.0.0:443` or `https://[::]:443` lead nowhere).

The name actually announced (`office-2` after a clash on the LAN, not the hostname
`office`) is kept in `<data>/announced-name`, so the console login banner
(image/overlay/usr/lib/pychat-image/claim-banner, run as root) shows the right one.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

from ..system import durable

ANNOUNCED_NAME_FILE = "announced-name"


def app_urls(name: str, port: int, addresses: Iterable[IPv4Address | IPv6Address]) -> list[str]:
    """`https://<name>.local[:port]`, then one URL per address (IPv4 first, as given)."""
    shown_port = "" if port == 443 else f":{port}"
    hosts = [f"{name}.local"]
    hosts += [f"[{a}]" if a.version == 6 else str(a) for a in addresses]
    return [f"https://{host}{shown_port}" for host in hosts]


# Bind hosts that mean "every address" (server.https_listen): not somewhere to go.
_EVERY_ADDRESS = frozenset({"*", "0.0.0.0", "::", ""})  # noqa: S104 (compared, not bound)


def serving_urls(
    name: str,
    bind_host: str,
    port: int,
    addresses: Iterable[IPv4Address | IPv6Address],
    bound_url: str,
) -> list[str]:
    """What the console and `systemctl status` show: `app_urls` when listening on every
    address, else the name and the one address it listens on (`bound_url`)."""
    if bind_host in _EVERY_ADDRESS:
        return app_urls(name, port, addresses)
    return [*app_urls(name, port, ()), bound_url]


def write_announced_name(data_dir: Path, name: str) -> None:
    """Record the name announced now (blocking: call it from a thread)."""
    durable.write_file(data_dir / ANNOUNCED_NAME_FILE, f"{name}\n".encode(), mode=0o644)
