"""Building the local CA and the server certificate with `cryptography.x509` (pure, no I/O).

Decisions (docs/operations.md, "HTTPS and the local CA"):

- Keys are EC P-256: generated in milliseconds on a Raspberry Pi (RSA-2048 takes seconds),
  and every browser since 2014 accepts ECDSA certificates.
- The CA is limited by a critical nameConstraints extension (RFC 5280 §4.2.1.10) that
  permits only the `.local` mDNS domain, the device's own bare name, and the private
  address ranges. Chrome (112+, always since 126), Firefox, Safari/macOS/iOS, Windows and
  OpenSSL enforce constraints written in a trust anchor, so a stolen CA key cannot be used
  to impersonate any public site to an office device that trusts it. The whole of `.local`
  is permitted (not only `<name>.local`) because a name clash on the LAN renames the
  device to `<name>-2` and the admin may rename it (in the wizard too, after the CA was
  offered at /trust): the CA the office already trusts keeps working, and a rename never
  makes a new one. A bare name cannot be permitted as a class, so only the name the CA was
  first made for is; after a rename the bare name is left out of the server certificate.
- Time: notBefore is two days back (a Pi has no clock battery), and a clock that reads
  earlier than `CLOCK_FLOOR` or than the CA's own birth is not believed when issuing.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import secrets
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address, IPv4Interface, IPv4Network, IPv6Address, IPv6Interface

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ..discovery.device_name import check_device_name
from ..system.clock import CLOCK_FLOOR_MS

IPAddress = IPv4Address | IPv6Address
MDNS_DOMAIN = "local"
CLOCK_SKEW = timedelta(days=2)
CA_LIFETIME = timedelta(days=3652)  # ten years
# Total validity (notAfter - notBefore) must stay under 398 days (Apple, Chrome).
SERVER_LIFETIME = timedelta(days=397)
RENEW_BEFORE = timedelta(days=30)
# A clock before this date is surely wrong (this version did not exist yet).
CLOCK_FLOOR = datetime.fromtimestamp(CLOCK_FLOOR_MS / 1000, UTC)
# RFC 1918 private IPv4, RFC 3927 IPv4 link-local, RFC 4193 IPv6 unique local.
PRIVATE_NETWORKS: tuple[IPv4Network | ipaddress.IPv6Network, ...] = (
    ipaddress.ip_network("10.0.0.0/8"),
    ipaddress.ip_network("172.16.0.0/12"),
    ipaddress.ip_network("192.168.0.0/16"),
    ipaddress.ip_network("169.254.0.0/16"),
    ipaddress.ip_network("fc00::/7"),
)
_DNS_NAME = re.compile(r"(?:\*\.)?(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9_-]{1,63}")


def new_key() -> ec.EllipticCurvePrivateKey:
    """A fresh P-256 key. Cheap, but still CPU work: callers inside a loop use a thread."""
    return ec.generate_private_key(ec.SECP256R1())


def is_lan_address(address: IPAddress) -> bool:
    return any(address.version == net.version and address in net for net in PRIVATE_NETWORKS)


def lan_addresses(
    found: Iterable[IPv4Interface | IPv6Interface | IPAddress],
) -> tuple[IPAddress, ...]:
    """The device's addresses that go into its certificate: private ones, sorted, unique.

    Loopback and IPv6 link-local are left out (no browser reaches a LAN device by them), and
    so are global addresses: the CA is constrained to private ranges, and a public address
    in the certificate would make browsers reject it. Reach the device by name there.
    """
    addresses = {a.ip if isinstance(a, IPv4Interface | IPv6Interface) else a for a in found}
    return tuple(sorted((a for a in addresses if is_lan_address(a)), key=_address_key))


def _address_key(address: IPAddress) -> tuple[int, int]:
    return address.version, int(address)


def issuing_time(now: datetime, ca: x509.Certificate | None = None) -> datetime:
    """`now`, unless the clock is provably behind (before CLOCK_FLOOR or the CA's birth)."""
    floor = CLOCK_FLOOR if ca is None else max(CLOCK_FLOOR, ca.not_valid_before_utc + CLOCK_SKEW)
    return max(now, floor)


def make_ca(key: ec.EllipticCurvePrivateKey, name: str, now: datetime) -> x509.Certificate:
    """A ten-year CA that may only issue for `.local`, `<name>` and private addresses."""
    check_device_name(name)
    now = issuing_time(now)
    # A short random tag tells two CAs of the same device apart in a trust store.
    tag = secrets.token_hex(4)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, f"Pychat {name}.local CA {tag}"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Pychat appliance"),
        ]
    )
    permitted: list[x509.GeneralName] = [x509.DNSName(MDNS_DOMAIN), x509.DNSName(name)]
    permitted += [x509.IPAddress(net) for net in PRIVATE_NETWORKS]
    not_before = now - CLOCK_SKEW
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_before + CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.NameConstraints(permitted, None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def make_server_certificate(
    ca_key: ec.EllipticCurvePrivateKey,
    ca: x509.Certificate,
    key: ec.EllipticCurvePrivateKey,
    names: Sequence[str],
    addresses: Sequence[IPAddress],
    now: datetime,
) -> x509.Certificate:
    """A TLS server certificate for `names` and `addresses`, under 398 days, never past the CA."""
    now = issuing_time(now, ca)
    not_before = now - CLOCK_SKEW
    not_after = min(not_before + SERVER_LIFETIME, ca.not_valid_after_utc)
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
    sans += [x509.IPAddress(a) for a in addresses]
    # No name the CA permits (a narrow CA after a rename): still valid by address.
    common_name = names[0] if names else str(addresses[0]) if addresses else "pychat"
    ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )


def server_names(ca: x509.Certificate, name: str, former: Sequence[str] = ()) -> list[str]:
    """`<name>.local` and the bare `<name>`, then the same for each `former` name (answered
    for a while after a rename), each only when the CA's constraints permit it: a name
    outside them would make browsers reject the whole certificate."""
    wanted: list[str] = []
    for each in (name, *former):
        wanted += [f"{each}.{MDNS_DOMAIN}", each]
    return [n for n in dict.fromkeys(wanted) if permits_dns(ca, n)]


def covers_device_name(ca: x509.Certificate, name: str) -> bool:
    """Whether the CA may issue for `<name>.local` (every CA made here may; an older or
    restored one with narrower constraints may not, and only a new CA would help)."""
    return permits_dns(ca, f"{name}.{MDNS_DOMAIN}")


def covers_every_device_name(ca: x509.Certificate) -> bool:
    """Whether the CA may issue for any `<name>.local`, so that no rename needs a new one
    (every CA made here; an older or restored one with narrower constraints may not)."""
    subtrees = _dns_subtrees(ca)
    return subtrees is None or MDNS_DOMAIN in subtrees


def permits_dns(ca: x509.Certificate, hostname: str) -> bool:
    """RFC 5280 §4.2.1.10: a dNSName is permitted when it equals a permitted subtree or
    adds labels to its left. A CA without dNSName constraints permits every name."""
    subtrees = _dns_subtrees(ca)
    if subtrees is None:
        return True
    host = hostname.lower().rstrip(".")
    return any(host == s or host.endswith("." + s) for s in subtrees)


def _dns_subtrees(ca: x509.Certificate) -> list[str] | None:
    """The CA's permitted dNSName subtrees, None when it has no such constraint."""
    try:
        constraints = ca.extensions.get_extension_for_class(x509.NameConstraints).value
    except x509.ExtensionNotFound:
        return None
    subtrees = [
        str(s.value).lower().lstrip(".")
        for s in constraints.permitted_subtrees or ()
        if isinstance(s, x509.DNSName)
    ]
    return subtrees or None


def san_names(cert: x509.Certificate) -> tuple[list[str], list[IPAddress]]:
    """The DNS names and IP addresses in a certificate's subjectAltName (empty if none)."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    addresses = [a for a in san.get_values_for_type(x509.IPAddress) if isinstance(a, IPAddress)]
    return [n.lower() for n in san.get_values_for_type(x509.DNSName)], addresses


def covers(cert: x509.Certificate, hostname: str) -> bool:
    """Does the certificate name `hostname` (an exact SAN, or a one-label `*.` wildcard)?"""
    dns, addresses = san_names(cert)
    try:
        return ipaddress.ip_address(hostname) in addresses
    except ValueError:
        pass
    host = hostname.lower().rstrip(".")
    for pattern in dns:
        if pattern == host:
            return True
        if pattern.startswith("*.") and "." in host and host.split(".", 1)[1] == pattern[2:]:
            return True
    return False


def is_dns_name(text: str) -> bool:
    return bool(_DNS_NAME.fullmatch(text.lower())) and len(text) <= 253


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the DER certificate as colon-separated upper-case hex (what OSes show)."""
    digest = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2)).upper()


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def utcnow() -> datetime:
    return datetime.now(UTC)
