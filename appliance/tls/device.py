"""HTTPS for the appliance: its own CA, its server certificate, and the live SSLContext.

`DeviceTls` is the async face: it runs key generation and file I/O in threads, renews the
certificate when it nears expiry or the device's name or addresses change, installs an
uploaded certificate, and swaps the certificate into the running server's SSLContext
(`load_cert_chain` on the same context applies to every new handshake). The pure parts live
in `issue.py` (building certificates), `store.py` (files, when to renew) and `custom.py`
(uploaded certificates); `renewal.py` keeps the certificate fresh while the server runs, and
web/appliance_sites.py starts the listeners.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from ipaddress import IPv4Interface, IPv6Interface
from pathlib import Path

from cryptography import x509

from ..discovery.device_name import RENAME_GRACE_S, check_device_name
from ..system.netif import interface_addresses
from .custom import CertificateRejected, install_custom, read_custom, remove_custom
from .issue import (
    MDNS_DOMAIN,
    IPAddress,
    cert_pem,
    covers_device_name,
    covers_every_device_name,
    fingerprint,
    is_dns_name,
    lan_addresses,
    san_names,
    utcnow,
)
from .store import TlsPaths, ensure_certificates, read_cert, regenerate_ca

__all__ = [
    "CertificateInfo",
    "CertificateRejected",
    "DeviceTls",
    "TlsPaths",
    "ensure_certificates",
    "fingerprint",
    "server_context",
]

log = logging.getLogger(__name__)
AddressSource = Callable[[], Iterable[IPv4Interface | IPv6Interface | IPAddress]]


def server_context() -> ssl.SSLContext:
    """A server context: TLS 1.2 or newer, forward-secret AEAD ciphers only. Load a
    certificate into it with `load_cert_chain` (again, to replace it)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # TLS 1.2 suites (1.3 ones are all AEAD already): ECDHE with AES-GCM or ChaCha20.
    context.set_ciphers("ECDHE+AESGCM:ECDHE+CHACHA20")
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    context.options |= ssl.OP_NO_RENEGOTIATION
    return context


@dataclass(frozen=True)
class CertificateInfo:
    """What the admin's device page and the wizard show."""

    kind: str  # "local" (issued by the device's CA) or "custom" (uploaded)
    subject: str
    issuer: str
    names: tuple[str, ...]
    addresses: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    fingerprint: str  # of the served certificate
    ca_fingerprint: str  # of the local CA (what office devices trust)
    custom_expired: bool  # an uploaded certificate is installed but has expired
    # The local CA may issue for every `<name>.local`: False only for a CA with narrower
    # name constraints than this version makes; a rename then needs a new CA (asked first).
    ca_covers_every_name: bool = True

    def to_api(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "subject": self.subject,
            "issuer": self.issuer,
            "names": list(self.names),
            "addresses": list(self.addresses),
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "fingerprint": self.fingerprint,
            "ca_fingerprint": self.ca_fingerprint,
            "custom_expired": self.custom_expired,
            "ca_covers_every_name": self.ca_covers_every_name,
        }


@dataclass(frozen=True)
class _Active:
    kind: str
    cert_path: Path
    key_path: Path
    cert: x509.Certificate
    ca: x509.Certificate
    custom_expired: bool


def _choose_active(paths: TlsPaths, now: datetime) -> _Active:
    """The uploaded certificate while it is valid, else the local one (blocking)."""
    ca = read_cert(paths.ca_cert)
    local = read_cert(paths.server_cert)
    if ca is None or local is None:
        raise RuntimeError(f"no local certificate in {paths.directory}: run a check first")
    custom = read_custom(paths)
    if custom is not None and custom.not_valid_after_utc > now:
        return _Active("custom", paths.custom_cert, paths.custom_key, custom, ca, False)
    expired = custom is not None
    return _Active("local", paths.server_cert, paths.server_key, local, ca, expired)


async def _default_name() -> str:
    return "pychat"


class DeviceTls:
    """The device's certificates and the server SSLContext that serves them.

    `device_name` returns the current device name (a DNS label); `addresses` lists the
    device's interface addresses (blocking; run in a thread); `clock` returns an aware UTC
    datetime. Every method that changes files holds one lock, so checks, uploads and
    renewals never interleave.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        device_name: Callable[[], Awaitable[str]] = _default_name,
        addresses: AddressSource = interface_addresses,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.paths = TlsPaths.in_data_dir(data_dir)
        self.context = server_context()
        self._device_name = device_name
        self._addresses = addresses
        self._clock = clock
        self._lock = asyncio.Lock()
        self._active: _Active | None = None
        self.name = ""
        # Names before a rename, still in the certificate until their time (RENAME_GRACE_S).
        self._former: dict[str, datetime] = {}
        self.ca_pem = b""
        self.ca_fingerprint = ""
        self._wake = asyncio.Event()
        self._checked = asyncio.Condition()
        self.checks = 0  # completed checks, for `wait_for_checks`

    async def check(self, *, name: str | None = None) -> bool:
        """Make or renew the local certificates as needed and serve the right one. Returns
        True when anything was renewed. `name` overrides the stored device name (the wizard
        passes the name just chosen). The CA is never replaced for a name: see
        `covers_name`. After a rename the previous name stays in the certificate for
        RENAME_GRACE_S."""
        async with self._lock:
            name = check_device_name(name if name is not None else await self._device_name())
            found = await asyncio.to_thread(lambda: lan_addresses(self._addresses()))
            now = self._clock()
            former = self._former_names(name, now)
            renewed = await asyncio.to_thread(
                ensure_certificates, self.paths, name, found, now, former=former
            )
            self.name = name
            await self._load(now, force=renewed)
        async with self._checked:
            self.checks += 1
            self._checked.notify_all()
        return renewed

    def covers_name(self, name: str) -> bool:
        """Whether the CA in use may issue for `<name>.local` (after the first check)."""
        active = self._active
        return active is None or covers_device_name(active.ca, check_device_name(name))

    @property
    def former_names(self) -> tuple[str, ...]:
        """The names before a rename that the certificate still covers."""
        return tuple(self._former)

    def _former_names(self, name: str, now: datetime) -> list[str]:
        """Remember the name in use before a rename; forget those whose time is up."""
        if self.name and self.name != name:
            self._former[self.name] = now + timedelta(seconds=RENAME_GRACE_S)
        self._former.pop(name, None)
        for old, until in list(self._former.items()):
            if until <= now:
                del self._former[old]
        return sorted(self._former)

    def _seconds_to_next_expiry(self) -> float | None:
        if not self._former:
            return None
        return max(0.0, (min(self._former.values()) - self._clock()).total_seconds())

    async def install_custom(
        self,
        cert_data: bytes,
        key_data: bytes,
        *,
        name: str | None = None,
        also_names: Sequence[str] = (),
    ) -> CertificateInfo:
        """Validate and install an uploaded certificate chain and key, then serve it.

        It must name `<name>.local`, `<name>` or one of `also_names` (the address the office
        uses, e.g. `chat.example.com`); `name` overrides the stored device name (the wizard
        passes the name just chosen). Raises CertificateRejected with a clear message."""
        async with self._lock:
            name = check_device_name(name if name is not None else await self._device_name())
            names = [f"{name}.{MDNS_DOMAIN}", name]
            for extra in also_names:
                if not is_dns_name(extra):
                    raise CertificateRejected(f"{extra!r} is not a host name.")
                names.append(extra.lower())
            now = self._clock()
            await asyncio.to_thread(
                install_custom, self.paths, cert_data, key_data, names=names, now=now
            )
            await self._load(now, force=True)
        return await self.info()

    async def remove_custom(self) -> bool:
        """Go back to the device's own certificate. True if an uploaded one was removed."""
        async with self._lock:
            removed = await asyncio.to_thread(remove_custom, self.paths)
            await self._load(self._clock(), force=True)
            return removed

    async def regenerate_ca(self, *, name: str | None = None) -> None:
        """A new CA (and server certificate): every office device must trust it again.
        `name` overrides the stored device name (the wizard passes the name just chosen)."""
        async with self._lock:
            name = check_device_name(name if name is not None else await self._device_name())
            found = await asyncio.to_thread(lambda: lan_addresses(self._addresses()))
            now = self._clock()
            former = self._former_names(name, now)
            await asyncio.to_thread(regenerate_ca, self.paths, name, found, now, former=former)
            self.name = name
            await self._load(now, force=True)

    async def info(self) -> CertificateInfo:
        active = self._active
        if active is None:
            raise RuntimeError("DeviceTls.check() has not run yet")
        dns, ips = san_names(active.cert)
        return CertificateInfo(
            kind=active.kind,
            subject=active.cert.subject.rfc4514_string(),
            issuer=active.cert.issuer.rfc4514_string(),
            names=tuple(dns),
            addresses=tuple(str(a) for a in ips),
            not_before=active.cert.not_valid_before_utc,
            not_after=active.cert.not_valid_after_utc,
            fingerprint=fingerprint(active.cert),
            ca_fingerprint=self.ca_fingerprint,
            custom_expired=active.custom_expired,
            ca_covers_every_name=covers_every_device_name(active.ca),
        )

    def wake(self) -> None:
        """Ask the renewal task to check now (after a rename or an address change)."""
        self._wake.set()

    async def wait_for_wake(self, timeout_s: float) -> None:
        """Return after `timeout_s`, or sooner when `wake()` is called or a former name's
        time in the certificate is up."""
        expiry = self._seconds_to_next_expiry()
        if expiry is not None:
            timeout_s = min(timeout_s, expiry + 0.1)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout_s)
        self._wake.clear()

    async def wait_for_checks(self, count: int) -> None:
        """Return once `count` checks have completed (tests, and "check now" in the UI)."""
        async with self._checked:
            await self._checked.wait_for(lambda: self.checks >= count)

    async def _load(self, now: datetime, *, force: bool) -> None:
        active = await asyncio.to_thread(_choose_active, self.paths, now)
        previous = self._active
        if (
            not force
            and previous is not None
            and previous.kind == active.kind
            and previous.cert == active.cert
        ):
            return
        # Checked on a throwaway context first: a failed load_cert_chain can leave a
        # context with a certificate and no key, and the live one must never be broken.
        await asyncio.to_thread(_probe, active.cert_path, active.key_path)
        # On the loop thread, between handshakes: OpenSSL does not promise that changing a
        # context while another thread makes connections from it is safe. Two small files.
        self.context.load_cert_chain(active.cert_path, active.key_path)
        self._active = active
        self.ca_pem = cert_pem(active.ca)
        self.ca_fingerprint = fingerprint(active.ca)
        if previous is None or previous.cert != active.cert:
            log.info(
                "serving the %s certificate for %s until %s",
                active.kind,
                ", ".join(san_names(active.cert)[0]),
                f"{active.cert.not_valid_after_utc:%Y-%m-%d}",
            )


def _probe(cert_path: Path, key_path: Path) -> None:
    server_context().load_cert_chain(cert_path, key_path)
