"""One typed configuration: defaults, then a TOML file, then PYCHAT_* environment variables.

Each setting is `section.key`; the environment variable is `PYCHAT_SECTION_KEY`. Errors name
the key, e.g. `limits.send_burst: must be an integer from 1 to 1000000`.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class ServerSettings:
    # development: plain HTTP on `listen` (localhost is a secure context), no mDNS.
    # appliance: HTTPS on `https_listen` with the local CA's certificate, HTTP on
    # `http_listen` redirecting to it, mDNS on (docs/operations.md).
    mode: str = "development"
    listen: str = "127.0.0.1:8080"
    https_listen: str = "*:443"
    http_listen: str = "*:80"
    # Connections (appliance/web/connections.py): a connection must finish its TLS
    # handshake, then its first request head, in time; kept-alive idle ones close after
    # keepalive_timeout_s.
    header_timeout_s: float = 10.0
    tls_handshake_timeout_s: float = 10.0
    keepalive_timeout_s: float = 30.0
    connections_per_ip: int = 256  # an IPv6 /64 counts as one address
    max_connections: int = 0  # 0: from RLIMIT_NOFILE, leaving room for everything else
    shutdown_grace_s: float = 3.0  # requests in flight at SIGTERM, then they are cancelled


@dataclass(frozen=True)
class DiscoverySettings:
    # auto: announce by mDNS in appliance mode only; a developer's machine must not
    # multicast onto its network.
    mdns: str = "auto"
    # The name before setup gives one: `pychat`, or the hostname (the appliance's unit: the
    # image sets the hostname from pychat.txt's device_name= before the first boot).
    name_before_setup: str = "pychat"


@dataclass(frozen=True)
class SetupSettings:
    # A second copy of the first-boot claim code (the image points it at the boot partition).
    claim_code_copy: str = ""


@dataclass(frozen=True)
class BackupSettings:
    # Daily backups go to the first writable folder matching these globs (`:` between
    # patterns) that is on another disk than the data: a `pychat-backups` folder on a USB
    # drive. Empty: no scheduled backups.
    usb_dir: str = "/media/*/pychat-backups:/media/*/*/pychat-backups:/mnt/*/pychat-backups"


@dataclass(frozen=True)
class ClockSettings:
    # Take the time from signed-in admins' browsers while NTP has not synchronised the
    # clock (an office without internet): auto = in appliance mode only (docs/operations.md).
    from_browsers: str = "auto"


@dataclass(frozen=True)
class DbSettings:
    # FULL survives a power cut on an SD card; NORMAL may lose the last commits.
    synchronous: str = "FULL"
    # The integrity check at start gives up after this long (a large database, a slow card).
    integrity_check_s: float = 30.0


@dataclass(frozen=True)
class DatabaseSettings:
    # Empty: SQLite in the data folder (the appliance). postgresql://...: several nodes share
    # one PostgreSQL (docs/scaling.md).
    url: str = ""


@dataclass(frozen=True)
class BusSettings:
    # redis://...: nodes on one PostgreSQL tell each other of new events through Redis
    # (without it they notice within the housekeeping's 2 s). Needs database.url.
    url: str = ""


@dataclass(frozen=True)
class AuthSettings:
    session_days: int = 30
    scrypt_n: int = 16384
    login_failures_per_user: int = 10
    login_failures_per_ip: int = 50
    login_window_s: int = 900
    # Password hashes run at once (each takes scrypt_n KiB) and how many may wait.
    hash_workers: int = 2
    hash_queue: int = 32


@dataclass(frozen=True)
class LimitsSettings:
    message_chars: int = 10000
    frame_bytes: int = 65536
    request_bytes: int = 1048576
    send_per_second: float = 5.0
    send_burst: int = 20
    frames_per_second: float = 50.0
    frames_burst: int = 200
    ws_per_ip: int = 64
    ws_per_user: int = 32
    rooms_per_user: int = 1000  # memberships, however made (others may fill 90% of it)
    members_per_room: int = 10000
    room_creates_per_minute: float = 1.0  # rooms one account may create, after the burst
    room_creates_burst: int = 20


@dataclass(frozen=True)
class WsSettings:
    # Unsent bytes a socket may hold before it is closed as too slow (it then resumes).
    send_buffer_bytes: int = 1 << 20
    heartbeat_s: float = 30.0
    replay_limit: int = 10000


@dataclass(frozen=True)
class UploadsSettings:
    # Files (issue 5). Stored under <data>/files by content hash.
    max_bytes: int = 1 << 30
    user_quota_bytes: int = 10 << 30
    total_quota_bytes: int = 0  # 0: no total cap beyond the disk reserve
    disk_reserve_bytes: int = 512 << 20  # kept free so the database can always write
    unattached_ttl_s: int = 86400
    # Images are decoded in a child process, one at a time (appliance/files/decoder.py).
    image_max_pixels: int = 50_000_000  # one frame: a 48 MP phone photo fits
    image_decode_bytes: int = 640 << 20  # address space of the decode process
    image_decode_timeout_s: float = 60.0
    image_decode_queue: int = 3  # uploads that wait for the decoder; more get a 429


@dataclass(frozen=True)
class TurnSettings:
    # The built-in STUN/TURN server (issue 6, docs/turn.md).
    enabled: str = "auto"  # auto: on in appliance mode only
    listen: str = "*:3478"
    # Above Linux's ephemeral range (32768-60999), so no other program holds these ports.
    relay_ports: str = "61000-65535"
    relay_address: str = ""  # empty: the listen address, or the first LAN IPv4 address
    office_subnets: str = ""  # empty: the subnets of the device's own interfaces
    realm: str = "pychat"
    max_allocations: int = 1000
    max_allocations_per_user: int = 64
    credential_ttl_s: int = 43200  # what GET /api/turn hands out lasts 12 hours
    external: str = ""  # HOST:PORT of a `pychat turn` on another device (then none here)
    # The echo bot's "test call" (aiortc re-encodes what it echoes: keep it small).
    test_calls: int = 2
    test_call_max_s: int = 300


@dataclass(frozen=True)
class CallsSettings:
    # Audio and video calls in rooms (issue 6, docs/api/calls.md).
    ring_timeout_s: float = 45.0
    rejoin_grace_s: float = 20.0  # a dropped socket's seat waits this long for `replaces`
    max_participants: int = 16
    ring_max_members: int = 16  # bigger private rooms (and every channel) are not rung


@dataclass(frozen=True)
class PainterSettings:
    # The shared drawing board (issue 7, docs/api/painter.md).
    max_ops: int = 20000
    max_bytes: int = 8 << 20  # stored ops of one board (a board is in memory while open)
    max_points: int = 5000  # points in one stroke
    image_chars: int = 48000  # an image's data URL (it must fit in limits.frame_bytes)
    ops_per_second: float = 20.0
    ops_burst: int = 60
    memory_bytes: int = 64 << 20  # boards held open at once (board.op_cost), checked per op
    user_bytes: int = 32 << 20  # one author's ops on the boards held open (likewise)


@dataclass(frozen=True)
class MailSettings:
    # Email (issue 16): the SMTP server itself is set by the admin, in the database.
    check_every_s: float = 30.0  # how often the digest job looks for missed messages
    send_timeout_s: float = 20.0  # one mail, connecting included: a slow server gives up
    queue: int = 200  # mails waiting to be sent; beyond it a mail is dropped and logged


@dataclass(frozen=True)
class PushSettings:
    # Web Push (issue 16; the admin turns it on in the admin area, off by default).
    delay_s: float = 10.0  # a message still unread on every device this long after is pushed
    send_timeout_s: float = 10.0  # one request to a push service
    queue: int = 1000  # notifications waiting to be sent; beyond it one is dropped and logged
    per_person_per_minute: float = 30.0  # pushes to one person's devices, after a burst of 10
    contact: str = ""  # the VAPID `sub`; empty: mailto:admin@<device name>.local
    # on: accept any http(s) endpoint, not only the vendors' push services (for tests only).
    test_endpoints: str = "off"


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("data")
    server: ServerSettings = field(default_factory=ServerSettings)
    db: DbSettings = field(default_factory=DbSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    bus: BusSettings = field(default_factory=BusSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    limits: LimitsSettings = field(default_factory=LimitsSettings)
    ws: WsSettings = field(default_factory=WsSettings)
    discovery: DiscoverySettings = field(default_factory=DiscoverySettings)
    setup: SetupSettings = field(default_factory=SetupSettings)
    backup: BackupSettings = field(default_factory=BackupSettings)
    clock: ClockSettings = field(default_factory=ClockSettings)
    uploads: UploadsSettings = field(default_factory=UploadsSettings)
    turn: TurnSettings = field(default_factory=TurnSettings)
    painter: PainterSettings = field(default_factory=PainterSettings)
    calls: CallsSettings = field(default_factory=CallsSettings)
    mail: MailSettings = field(default_factory=MailSettings)
    push: PushSettings = field(default_factory=PushSettings)

    @property
    def appliance_mode(self) -> bool:
        return self.server.mode == "appliance"

    @property
    def mdns_enabled(self) -> bool:
        return self.discovery.mdns == "on" or (
            self.discovery.mdns == "auto" and self.appliance_mode
        )

    @property
    def clock_from_browsers(self) -> bool:
        return self.clock.from_browsers == "on" or (
            self.clock.from_browsers == "auto" and self.appliance_mode
        )

    @property
    def db_path(self) -> Path:
        return self.data_dir / "pychat.db"


# Bounds that every value must satisfy: (low, high) for numbers, a set for choices.
_BOUNDS: dict[str, Any] = {
    "server.mode": ("development", "appliance"),
    "server.header_timeout_s": (0.1, 3600),
    "server.tls_handshake_timeout_s": (0.1, 3600),
    "server.keepalive_timeout_s": (1, 86400),
    "server.connections_per_ip": (1, 1_000_000),
    "server.max_connections": (0, 10_000_000),
    "server.shutdown_grace_s": (0.1, 300),
    "discovery.mdns": ("auto", "on", "off"),
    "discovery.name_before_setup": ("pychat", "hostname"),
    "clock.from_browsers": ("auto", "on", "off"),
    "db.synchronous": ("FULL", "NORMAL", "EXTRA"),
    "db.integrity_check_s": (1, 3600),
    "auth.session_days": (1, 3650),
    "auth.scrypt_n": (1024, 1 << 20),
    "auth.login_failures_per_user": (1, 1_000_000),
    "auth.login_failures_per_ip": (1, 1_000_000),
    "auth.login_window_s": (1, 86400),
    "auth.hash_workers": (1, 64),
    "auth.hash_queue": (0, 100_000),
    "limits.message_chars": (1, 1_000_000),
    "limits.frame_bytes": (1024, 16 << 20),
    "limits.request_bytes": (1024, 1 << 30),
    "limits.send_per_second": (0.01, 1_000_000),
    "limits.send_burst": (1, 1_000_000),
    "limits.frames_per_second": (0.01, 1_000_000),
    "limits.frames_burst": (1, 1_000_000),
    "limits.ws_per_ip": (1, 1_000_000),
    "limits.ws_per_user": (1, 1_000_000),
    "limits.rooms_per_user": (1, 1_000_000),
    "limits.members_per_room": (2, 1_000_000),
    "limits.room_creates_per_minute": (0.001, 1_000_000),
    "limits.room_creates_burst": (1, 1_000_000),
    "ws.send_buffer_bytes": (4096, 1 << 30),
    "ws.heartbeat_s": (1, 3600),
    "ws.replay_limit": (1, 10_000_000),
    "uploads.max_bytes": (1024, 1 << 40),
    "uploads.user_quota_bytes": (0, 1 << 50),
    "uploads.total_quota_bytes": (0, 1 << 50),
    "uploads.disk_reserve_bytes": (0, 1 << 50),
    "uploads.unattached_ttl_s": (1, 365 * 86400),
    "uploads.image_max_pixels": (1, 1_000_000_000),
    "uploads.image_decode_bytes": (64 << 20, 1 << 40),
    "uploads.image_decode_timeout_s": (1, 3600),
    "uploads.image_decode_queue": (0, 1000),
    "turn.enabled": ("auto", "on", "off"),
    "turn.max_allocations": (1, 100_000),
    "turn.max_allocations_per_user": (1, 10_000),
    "turn.credential_ttl_s": (600, 7 * 86400),
    "turn.test_calls": (1, 16),
    "turn.test_call_max_s": (1, 3600),
    "painter.max_ops": (100, 10_000_000),
    "painter.max_bytes": (65536, 1 << 30),
    "painter.max_points": (2, 1_000_000),
    "painter.image_chars": (1024, 16 << 20),
    "painter.ops_per_second": (0.01, 1_000_000),
    "painter.ops_burst": (1, 1_000_000),
    "painter.memory_bytes": (65536, 1 << 40),
    "painter.user_bytes": (65536, 1 << 40),
    "calls.ring_timeout_s": (0.1, 3600),
    "calls.rejoin_grace_s": (0.1, 3600),
    "calls.max_participants": (2, 64),
    "calls.ring_max_members": (2, 10_000),
    "mail.check_every_s": (0.1, 3600),
    "mail.send_timeout_s": (1, 600),
    "mail.queue": (1, 100_000),
    "push.delay_s": (0, 86400),
    "push.send_timeout_s": (1, 600),
    "push.queue": (1, 1_000_000),
    "push.per_person_per_minute": (0.1, 10_000),
    "push.test_endpoints": ("off", "on"),
}

# Addresses: the schemes each takes (empty: not used).
_URL_SCHEMES: dict[str, tuple[str, ...]] = {
    "database.url": ("postgresql", "postgres"),
    "bus.url": ("redis", "rediss", "unix"),
}

_SECTIONS = (
    "server", "db", "database", "bus", "auth", "limits", "ws", "discovery", "setup", "backup",
    "uploads", "turn", "painter", "calls", "clock", "mail", "push",
)  # fmt: skip


def load_settings(
    data_dir: Path,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Defaults, then `<data>/pychat.toml` (or /etc/pychat/pychat.toml), then env, then flags."""
    environ = os.environ if environ is None else environ
    values: dict[str, dict[str, Any]] = {s: {} for s in _SECTIONS}
    for path in (Path("/etc/pychat/pychat.toml"), data_dir / "pychat.toml"):
        if path.is_file():
            _merge_toml(values, path)
    for section in _SECTIONS:
        for f in dataclasses.fields(_section_type(section)):
            env_name = f"PYCHAT_{section}_{f.name}".upper()
            if env_name in environ:
                values[section][f.name] = environ[env_name]
    for dotted, value in (overrides or {}).items():
        section, key = dotted.split(".", 1)
        values[section][key] = value
    built = {s: _build_section(s, values[s]) for s in _SECTIONS}
    if built["bus"].url and not built["database"].url:
        raise ConfigError("bus.url: needs database.url (nodes share a PostgreSQL database)")
    return Settings(data_dir=data_dir, **built)


def _section_type(section: str) -> type:
    return {
        "server": ServerSettings,
        "db": DbSettings,
        "database": DatabaseSettings,
        "bus": BusSettings,
        "auth": AuthSettings,
        "limits": LimitsSettings,
        "ws": WsSettings,
        "discovery": DiscoverySettings,
        "setup": SetupSettings,
        "backup": BackupSettings,
        "uploads": UploadsSettings,
        "turn": TurnSettings,
        "painter": PainterSettings,
        "calls": CallsSettings,
        "clock": ClockSettings,
        "mail": MailSettings,
        "push": PushSettings,
    }[section]


def _merge_toml(values: dict[str, dict[str, Any]], path: Path) -> None:
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{path}: {e}") from e
    for section, table in doc.items():
        if section not in values or not isinstance(table, dict):
            raise ConfigError(f"{path}: unknown section [{section}]")
        values[section].update(table)


def _build_section(section: str, raw: dict[str, Any]) -> Any:
    cls = _section_type(section)
    known = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        name = f"{section}.{key}"
        if key not in known:
            raise ConfigError(f"{name}: unknown setting")
        default = known[key].default
        kwargs[key] = _coerce(name, value, type(default))
    return cls(**kwargs)


def _coerce(name: str, value: Any, kind: type) -> Any:
    bounds = _BOUNDS.get(name)
    if kind is str:
        text = str(value).strip()
        if isinstance(bounds, tuple) and isinstance(bounds[0], str):
            # Choices compare case-insensitively and come back in their canonical form.
            chosen = [c for c in bounds if c.lower() == text.lower()]
            if not chosen:
                raise ConfigError(f"{name}: must be one of {', '.join(bounds)}")
            return chosen[0]
        if name.endswith("listen"):
            parse_listen(text, name=name)
        schemes = _URL_SCHEMES.get(name)
        if schemes and text and not text.startswith(tuple(f"{s}://" for s in schemes)):
            raise ConfigError(f"{name}: must be a {' or '.join(schemes)}:// address")
        return text
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: must be a number") from None
    if isinstance(value, bool) or (kind is int and isinstance(value, float)):
        raise ConfigError(f"{name}: must be an integer")
    if bounds is not None:
        low, high = bounds
        if not low <= number <= high:
            what = "an integer" if kind is int else "a number"
            raise ConfigError(f"{name}: must be {what} from {low} to {high}")
    return number


def parse_listen(text: str, *, name: str = "--listen") -> tuple[str, int]:
    """`HOST:PORT` or `[v6]:PORT` → (host, port); port 0 picks a free port."""
    host, sep, port_text = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ConfigError(f"{name}: must be HOST:PORT with a port from 0 to 65535")
    return host, int(port_text)
