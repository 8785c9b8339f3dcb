"""An uploaded certificate and key that replace the local CA's (the wizard and admin page).

Validated before anything is written, each refusal with a message an office manager can act
on; once installed, renewal never touches it. It is served while it is valid; after it
expires the device falls back to its own certificate (which stays renewed meanwhile).
Blocking: call from a thread inside a loop (`DeviceTls.install_custom` does).
"""

from __future__ import annotations

import contextlib
import itertools
import ssl
from collections.abc import Sequence
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from .issue import CLOCK_SKEW, cert_pem, covers, san_names
from .store import TlsPaths, read_cert, write_file

MAX_UPLOAD_BYTES = 64 * 1024
_EC_CURVES = (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)


class CertificateRejected(ValueError):
    """An uploaded certificate or key that cannot be used; `message` says why and what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _parse_chain(data: bytes) -> list[x509.Certificate]:
    if not data.strip():
        raise CertificateRejected("The certificate file is empty.")
    if b"PRIVATE KEY-----" in data and b"CERTIFICATE-----" not in data:
        raise CertificateRejected(
            "The certificate file holds a private key: upload the certificate there"
            " and the key in the key field."
        )
    try:
        if b"-----BEGIN" not in data:
            return [x509.load_der_x509_certificate(data)]
        return x509.load_pem_x509_certificates(data)
    except ValueError:
        raise CertificateRejected(
            "The certificate could not be read: upload a PEM file"
            " (text starting with -----BEGIN CERTIFICATE-----)."
        ) from None


def _parse_key(data: bytes) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    if not data.strip():
        raise CertificateRejected("The private key file is empty.")
    if b"CERTIFICATE-----" in data and b"PRIVATE KEY-----" not in data:
        raise CertificateRejected(
            "The key file holds a certificate, not a private key: upload the key"
            " (text starting with -----BEGIN PRIVATE KEY-----)."
        )
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise CertificateRejected(
            "The private key is protected by a passphrase. Upload it without one"
            " (openssl pkey -in key.pem -out plain-key.pem)."
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise CertificateRejected(
            "The private key could not be read: upload a PEM file"
            " (text starting with -----BEGIN PRIVATE KEY-----)."
        ) from None
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < 2048:
            raise CertificateRejected(
                f"The RSA key has {key.key_size} bits; browsers need at least 2048."
            )
        return key
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, _EC_CURVES):
        return key
    raise CertificateRejected(
        "Browsers accept only RSA (2048 bits or more) or ECDSA P-256/P-384 certificates."
    )


def _spki(key: object) -> bytes:
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        return b""
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def validate_custom(
    cert_data: bytes, key_data: bytes, *, names: Sequence[str], now: datetime
) -> tuple[list[x509.Certificate], rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey]:
    """Check an upload: readable, key matches, valid now, a server certificate, and naming
    at least one of `names` (the device's `<name>.local`, `<name>`, or a name the admin
    says the office uses). Raises CertificateRejected with a message for the user."""
    if len(cert_data) > MAX_UPLOAD_BYTES or len(key_data) > MAX_UPLOAD_BYTES:
        raise CertificateRejected("The files are too large for a certificate and a key.")
    chain = _parse_chain(cert_data)
    key = _parse_key(key_data)
    leaf = chain[0]
    if _spki(leaf.public_key()) != _spki(key.public_key()):
        raise CertificateRejected(
            "The private key does not belong to this certificate: upload the key"
            " that was made with it."
        )
    with contextlib.suppress(x509.ExtensionNotFound):
        if leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            raise CertificateRejected(
                "This is a CA certificate. Upload the server certificate it issued"
                " (first in the file), followed by any intermediate certificates."
            )
    with contextlib.suppress(x509.ExtensionNotFound):
        usages = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        if ExtendedKeyUsageOID.SERVER_AUTH not in usages:
            raise CertificateRejected(
                "The certificate is not for web servers (its extended key usage lacks serverAuth)."
            )
    if leaf.not_valid_after_utc <= now:
        raise CertificateRejected(
            f"The certificate expired on {leaf.not_valid_after_utc:%Y-%m-%d}. Upload a current one."
        )
    if leaf.not_valid_before_utc > now + CLOCK_SKEW:
        raise CertificateRejected(
            f"The certificate is not valid until {leaf.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"
            " (or this device's clock is wrong)."
        )
    if not any(covers(leaf, n) for n in names):
        dns, ips = san_names(leaf)
        has = ", ".join([*dns, *(str(a) for a in ips)]) or "no names at all"
        raise CertificateRejected(
            f"The certificate is for {has}, not for {' or '.join(names)}."
            " Upload a certificate whose subject alternative names include the device's name."
        )
    for child, parent in itertools.pairwise(chain):
        try:
            child.verify_directly_issued_by(parent)
        except (ValueError, TypeError, InvalidSignature):
            raise CertificateRejected(
                "The certificates after the first must be its issuers, in order"
                " (the server certificate, then each intermediate)."
            ) from None
    return chain, key


def install_custom(
    paths: TlsPaths, cert_data: bytes, key_data: bytes, *, names: Sequence[str], now: datetime
) -> x509.Certificate:
    """Validate, then write custom.crt and custom.key (0600). Returns the leaf."""
    chain, key = validate_custom(cert_data, key_data, names=names, now=now)
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    chain_bytes = b"".join(cert_pem(c) for c in chain)
    # The TLS library must accept the pair too, before it can replace anything.
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    write_file(paths.directory / ".probe.key", key_bytes, private=True)
    write_file(paths.directory / ".probe.crt", chain_bytes, private=False)
    try:
        probe.load_cert_chain(paths.directory / ".probe.crt", paths.directory / ".probe.key")
    except ssl.SSLError:
        raise CertificateRejected("The TLS library refused this certificate and key.") from None
    finally:
        for leftover in (".probe.key", ".probe.crt"):
            (paths.directory / leftover).unlink(missing_ok=True)
    write_file(paths.custom_key, key_bytes, private=True)
    write_file(paths.custom_cert, chain_bytes, private=False)
    return chain[0]


def remove_custom(paths: TlsPaths) -> bool:
    """Go back to the local CA's certificate. True if there was a custom one."""
    had = paths.custom_cert.exists()
    paths.custom_cert.unlink(missing_ok=True)
    paths.custom_key.unlink(missing_ok=True)
    return had


def read_custom(paths: TlsPaths) -> x509.Certificate | None:
    """The installed custom leaf certificate, if any (both files present)."""
    if not paths.custom_key.exists():
        return None
    return read_cert(paths.custom_cert)
