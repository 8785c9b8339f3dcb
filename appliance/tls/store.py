"""The certificate files under `<data>/tls/` and when the local ones are (re)made.

Blocking (key generation, file I/O): inside an event loop, call these from a thread, or use
the async API of `appliance.tls.device.DeviceTls`. Time is always passed in.

    ca.key      0600  the local CA's private key
    ca.crt            the local CA (what office devices trust; served at /ca.crt)
    server.key  0600  the server key
    server.crt        the server certificate issued by the local CA
    custom.key  0600  an uploaded key       } when present and not expired, served instead
    custom.crt        an uploaded chain     } of server.*; renewal never touches them
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ..discovery.device_name import check_device_name
from ..system import durable
from .issue import (
    CLOCK_FLOOR,
    RENEW_BEFORE,
    IPAddress,
    cert_pem,
    covers_device_name,
    key_pem,
    make_ca,
    make_server_certificate,
    new_key,
    san_names,
    server_names,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TlsPaths:
    directory: Path

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> TlsPaths:
        return cls(data_dir / "tls")

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca.key"

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def server_key(self) -> Path:
        return self.directory / "server.key"

    @property
    def server_cert(self) -> Path:
        return self.directory / "server.crt"

    @property
    def custom_key(self) -> Path:
        return self.directory / "custom.key"

    @property
    def custom_cert(self) -> Path:
        return self.directory / "custom.crt"


@dataclass(frozen=True)
class LocalCa:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate


def write_file(path: Path, data: bytes, *, private: bool) -> None:
    """Write durably and atomically (appliance.durable). A private file is created 0600,
    so a key is never readable by others, not even for a moment."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    durable.write_file(path, data, mode=0o600 if private else 0o644)


def _read_key(path: Path) -> ec.EllipticCurvePrivateKey | None:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        return None
    return key if isinstance(key, ec.EllipticCurvePrivateKey) else None


def read_cert(path: Path) -> x509.Certificate | None:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return None


def _same_public_key(cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> bool:
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    return cert.public_key().public_bytes(der, spki) == key.public_key().public_bytes(der, spki)


def load_ca(paths: TlsPaths) -> LocalCa | None:
    """The local CA, or None when it is missing, unreadable or its key does not match."""
    key, cert = _read_key(paths.ca_key), read_cert(paths.ca_cert)
    if key is None or cert is None or not _same_public_key(cert, key):
        return None
    return LocalCa(key, cert)


def ca_renewal_reason(ca: LocalCa | None, now: datetime) -> str | None:
    if ca is None:
        return "there is no CA yet"
    if now >= CLOCK_FLOOR and ca.cert.not_valid_after_utc - now <= RENEW_BEFORE:
        return f"the CA expires on {ca.cert.not_valid_after_utc:%Y-%m-%d}"
    return None


def server_renewal_reason(
    paths: TlsPaths,
    ca: LocalCa,
    name: str,
    addresses: Sequence[IPAddress],
    now: datetime,
    former: Sequence[str] = (),
) -> str | None:
    """Why the local server certificate must be made again, or None when it is fine."""
    key, cert = _read_key(paths.server_key), read_cert(paths.server_cert)
    if key is None or cert is None:
        return "there is no server certificate yet"
    if not _same_public_key(cert, key):
        return "the server key does not match its certificate"
    try:
        cert.verify_directly_issued_by(ca.cert)
    except (ValueError, TypeError, InvalidSignature):
        return "the server certificate was not issued by the current CA"
    dns, ips = san_names(cert)
    wanted = server_names(ca.cert, name, former)
    if sorted(dns) != sorted(wanted):
        return f"the names changed ({', '.join(dns)} → {', '.join(wanted)})"
    if sorted(ips, key=_key) != sorted(addresses, key=_key):
        shown = ", ".join(str(a) for a in addresses) or "none"
        return f"the addresses changed (now {shown})"
    # A clock before CLOCK_FLOOR is wrong (a Pi before NTP): never renew on its word.
    if now >= CLOCK_FLOOR:
        if cert.not_valid_after_utc - now <= RENEW_BEFORE:
            return f"it expires on {cert.not_valid_after_utc:%Y-%m-%d}"
        if cert.not_valid_before_utc > now:
            return "it was issued by a clock that was ahead"
    return None


def _key(address: IPAddress) -> tuple[int, int]:
    return address.version, int(address)


def create_ca(paths: TlsPaths, name: str, now: datetime) -> LocalCa:
    key = new_key()
    cert = make_ca(key, name, now)
    write_file(paths.ca_key, key_pem(key), private=True)
    write_file(paths.ca_cert, cert_pem(cert), private=False)
    return LocalCa(key, cert)


def ensure_certificates(
    paths: TlsPaths,
    name: str,
    addresses: Sequence[IPAddress],
    now: datetime,
    *,
    former: Sequence[str] = (),
) -> bool:
    """Make the CA and the server certificate, or renew what needs it. True if anything
    was written. `former` names (the device's names before a rename) are kept in the
    certificate too. A rename never makes a new CA: office devices may trust this one
    already (/trust is offered from first boot); a CA that does not cover the name stays,
    and the admin is asked (`covers_device_name`, `regenerate_ca`)."""
    check_device_name(name)
    ca = load_ca(paths)
    reason = ca_renewal_reason(ca, now)
    renewed = False
    if reason is not None or ca is None:
        log.info("making a new local CA: %s", reason)
        ca = create_ca(paths, name, now)
        renewed = True
    if not covers_device_name(ca.cert, name):
        log.warning("the local CA does not cover %s.local: only a new CA would", name)
    reason = server_renewal_reason(paths, ca, name, addresses, now, former)
    if reason is not None:
        log.info("issuing a new server certificate: %s", reason)
        key = new_key()
        names = server_names(ca.cert, name, former)
        cert = make_server_certificate(ca.key, ca.cert, key, names, addresses, now)
        write_file(paths.server_key, key_pem(key), private=True)
        write_file(paths.server_cert, cert_pem(cert), private=False)
        renewed = True
    return renewed


def regenerate_ca(
    paths: TlsPaths,
    name: str,
    addresses: Sequence[IPAddress],
    now: datetime,
    *,
    former: Sequence[str] = (),
) -> None:
    """A new CA (office devices must trust it again) and a server certificate under it."""
    check_device_name(name)
    log.warning("making a new local CA on request: office devices must trust it again")
    create_ca(paths, name, now)
    ensure_certificates(paths, name, addresses, now, former=former)
