"""The privileged commands: each validates its arguments and returns a plan of steps.

Planning is pure: a plan is data (programs to run with exact argv, files to write with
exact bytes and modes), so tests check every command completely without touching the host,
and only `executor.py` acts on a plan. Adding a command means adding one row to `COMMANDS`,
a section in docs/operations.md, and its tests.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from . import validate
from .validate import InvalidArgument

HOSTS = Path("/etc/hosts")
FAKE_HWCLOCK = ("fake-hwclock", "save")
WIFI_CONNECTION = "pychat-wifi"
WIFI_KEYFILE = Path("/etc/NetworkManager/system-connections") / f"{WIFI_CONNECTION}.nmconnection"
WIFI_COUNTRY_CONF = Path("/etc/modprobe.d/pychat-wifi-country.conf")
# A fixed UUID, so that applying Wi-Fi settings again replaces the one connection.
WIFI_UUID = str(uuid.uuid5(uuid.NAMESPACE_URL, "urn:pychat:wifi"))


@dataclass(frozen=True)
class Run:
    """Run a program (looked up on a fixed PATH, never the caller's) with this argv."""

    argv: tuple[str, ...]
    optional: bool = False  # not installed: skipped, not a failure

    def describe(self) -> str:
        return "run " + " ".join(self.argv) + (" (if installed)" if self.optional else "")


@dataclass(frozen=True)
class WriteFile:
    """Replace a file atomically (temporary file, fsync, rename) with this content."""

    path: Path
    content: bytes = field(repr=False)  # may hold a secret (the Wi-Fi passphrase)
    mode: int

    def describe(self) -> str:
        return f"write {self.path} (mode {self.mode:04o}, {len(self.content)} bytes)"


@dataclass(frozen=True)
class EditFile:
    """Rewrite a file in place (it may be a bind mount, so no rename) with `edit(text)`."""

    path: Path
    edit: Callable[[str], str]

    def describe(self) -> str:
        return f"edit {self.path}"


@dataclass(frozen=True)
class SetClock:
    """Set CLOCK_REALTIME to `epoch_ms`, only forward and only while no NTP client has
    synchronised it (the executor checks both against the kernel just before)."""

    epoch_ms: int

    def describe(self) -> str:
        when = datetime.fromtimestamp(self.epoch_ms / 1000, UTC).isoformat(timespec="milliseconds")
        return f"set the clock forward to {when.replace('+00:00', 'Z')} if not synchronised"


Step = Run | WriteFile | EditFile | SetClock
Plan = tuple[Step, ...]


@dataclass(frozen=True)
class Command:
    name: str
    args: tuple[str, ...]  # argument names, for usage and messages
    takes_secret: bool
    summary: str
    plan: Callable[[Sequence[str], str | None], Plan]

    def usage(self) -> str:
        return " ".join([self.name, *(a.upper() for a in self.args)])


def build_plan(name: str, args: Sequence[str], secret: str | None) -> Plan:
    """Validate a request completely and return what it would do. Raises InvalidArgument."""
    command = COMMANDS.get(name)
    if command is None:
        raise UnknownCommand(name)
    if len(args) != len(command.args):
        expected = " ".join(a.upper() for a in command.args) or "no arguments"
        raise InvalidArgument(f"{name}: expects {expected}")
    if command.takes_secret and secret is None:
        raise InvalidArgument(f"{name}: needs a passphrase")
    if not command.takes_secret and secret is not None:
        raise InvalidArgument(f"{name}: takes no passphrase")
    return command.plan(args, secret)


class UnknownCommand(LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


# --- set-hostname -------------------------------------------------------------------------


def _plan_hostname(args: Sequence[str], secret: str | None) -> Plan:
    name = validate.hostname(args[0])
    return (
        Run(("hostnamectl", "set-hostname", name)),
        EditFile(HOSTS, lambda text: hosts_with_name(text, name)),
    )


def hosts_with_name(text: str, name: str) -> str:
    """/etc/hosts with the Debian `127.0.1.1 <hostname>` line naming `name` (as raspi-config)."""
    lines = text.splitlines()
    entry = f"127.0.1.1\t{name}"
    out: list[str] = []
    found = False
    for line in lines:
        fields = line.split("#", 1)[0].split()
        if fields and fields[0] == "127.0.1.1":
            if not found:
                out.append(entry)
            found = True
            continue
        out.append(line)
    if not found:
        out.append(entry)
    return "\n".join(out) + "\n"


# --- reboot, shutdown -------------------------------------------------------------------


def _plan_reboot(args: Sequence[str], secret: str | None) -> Plan:
    # --no-block: the job is queued and the helper answers before the system goes down.
    return (Run(("systemctl", "--no-block", "reboot")),)


def _plan_shutdown(args: Sequence[str], secret: str | None) -> Plan:
    return (Run(("systemctl", "--no-block", "poweroff")),)


# --- wifi ---------------------------------------------------------------------------------


def _plan_wifi(args: Sequence[str], secret: str | None) -> Plan:
    code = validate.country(args[0])
    network = validate.ssid(args[1])
    psk = validate.passphrase(secret or "")
    return (
        # The regulatory domain now, and at every boot (cfg80211 is a module on the Pi).
        WriteFile(WIFI_COUNTRY_CONF, f"options cfg80211 ieee80211_regdom={code}\n".encode(), 0o644),
        Run(("iw", "reg", "set", code)),
        # Raspberry Pi OS keeps Wi-Fi soft-blocked until a country is set.
        Run(("nmcli", "radio", "wifi", "on")),
        WriteFile(WIFI_KEYFILE, wifi_keyfile(network, psk), 0o600),
        Run(("nmcli", "connection", "load", str(WIFI_KEYFILE))),
        # --wait 0: do not wait for the association (the caller may be on that very Wi-Fi).
        Run(("nmcli", "--wait", "0", "connection", "up", "id", WIFI_CONNECTION)),
    )


def wifi_keyfile(network: str, psk: str) -> bytes:
    """A NetworkManager keyfile (nm-settings-keyfile(5)) for a WPA2-Personal network.

    The SSID is written as NetworkManager's own integer list (`ssid=79;102;...;`), which
    needs no escaping whatever the name holds; the passphrase is a GKeyFile string."""
    ssid_list = "".join(f"{b};" for b in network.encode("utf-8"))
    text = (
        "[connection]\n"
        f"id={WIFI_CONNECTION}\n"
        f"uuid={WIFI_UUID}\n"
        "type=wifi\n"
        "autoconnect=true\n"
        "\n"
        "[wifi]\n"
        "mode=infrastructure\n"
        f"ssid={ssid_list}\n"
        "\n"
        "[wifi-security]\n"
        "key-mgmt=wpa-psk\n"
        f"psk={_keyfile_string(psk)}\n"
        "\n"
        "[ipv4]\n"
        "method=auto\n"
        "\n"
        "[ipv6]\n"
        "method=auto\n"
        "addr-gen-mode=default\n"
    )
    return text.encode("ascii")


def _keyfile_string(value: str) -> str:
    """GKeyFile string escaping for printable ASCII: backslashes, and spaces at either end
    as `\\s` (a parser may trim them; GLib turns `\\s` back into a space anywhere)."""
    escaped = value.replace("\\", "\\\\")
    core = escaped.strip(" ")
    if not core:
        return "\\s" * len(escaped)
    lead = len(escaped) - len(escaped.lstrip(" "))
    trail = len(escaped) - len(escaped.rstrip(" "))
    return "\\s" * lead + core + "\\s" * trail


# --- set-clock ----------------------------------------------------------------------------


def _plan_clock(args: Sequence[str], secret: str | None) -> Plan:
    return (
        SetClock(validate.epoch_ms(args[0])),
        # So that the next boot starts from this time, not from the last one saved.
        Run(FAKE_HWCLOCK, optional=True),
    )


COMMANDS: dict[str, Command] = {
    c.name: c
    for c in (
        Command(
            "set-hostname",
            ("name",),
            False,
            "set the device's hostname (and its /etc/hosts line)",
            _plan_hostname,
        ),
        Command("reboot", (), False, "restart the device", _plan_reboot),
        Command("shutdown", (), False, "power the device off", _plan_shutdown),
        Command(
            "wifi",
            ("country", "ssid"),
            True,
            "set the Wi-Fi country and join a WPA2 network",
            _plan_wifi,
        ),
        Command(
            "set-clock",
            ("epoch_ms",),
            False,
            "set the clock forward while NTP has not synchronised it (time from a browser)",
            _plan_clock,
        ),
    )
}
