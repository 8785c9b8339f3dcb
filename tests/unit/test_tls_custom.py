"""Uploading a certificate and key of one's own: validated with clear messages, installed
0600, served instead of the local one while valid, and never touched by renewal."""

from __future__ import annotations

import ipaddress
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from appliance.tls.custom import install_custom, validate_custom
from appliance.tls.device import CertificateRejected, DeviceTls
from appliance.tls.store import TlsPaths, ensure_certificates

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
NAMES = ["office.local", "office"]
LAN = [ipaddress.ip_address("192.168.1.20")]
Key = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _corporate_ca() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("Acme corporate CA"))
        .issuer_name(_name("Acme corporate CA"))
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW - timedelta(days=400))
        .not_valid_after(NOW + timedelta(days=3000))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


CA_KEY, CA = _corporate_ca()


def _leaf(
    names: list[str],
    *,
    key: Key | None = None,
    not_before: datetime = NOW - timedelta(days=10),
    not_after: datetime = NOW + timedelta(days=90),
    usage: list[x509.ObjectIdentifier] | None = None,
) -> tuple[bytes, bytes]:
    key = key or ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(names[0]))
        .issuer_name(CA.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
        )
        .add_extension(
            x509.ExtendedKeyUsage(usage or [ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
    )
    cert = builder.sign(CA_KEY, hashes.SHA256())
    chain = cert.public_bytes(serialization.Encoding.PEM) + CA.public_bytes(
        serialization.Encoding.PEM
    )
    return chain, _key_pem(key)


def _key_pem(key: Key, password: bytes | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def _refused(cert: bytes, key: bytes, names: list[str] = NAMES) -> str:
    with pytest.raises(CertificateRejected) as caught:
        validate_custom(cert, key, names=names, now=NOW)
    return caught.value.message


def test_a_good_certificate_with_its_chain_is_accepted() -> None:
    chain, key = _leaf(["office.local"])
    certs, _ = validate_custom(chain, key, names=NAMES, now=NOW)
    assert len(certs) == 2
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    chain, key = _leaf(["*.local"], key=rsa_key)  # a wildcard covers one label
    validate_custom(chain, key, names=NAMES, now=NOW)


def test_a_key_of_another_certificate_is_refused() -> None:
    chain, _ = _leaf(["office.local"])
    _, other_key = _leaf(["office.local"])
    assert _refused(chain, other_key) == (
        "The private key does not belong to this certificate: upload the key that was made with it."
    )


def test_an_expired_certificate_is_refused() -> None:
    chain, key = _leaf(
        ["office.local"], not_before=NOW - timedelta(days=100), not_after=NOW - timedelta(days=1)
    )
    assert _refused(chain, key) == "The certificate expired on 2027-02-28. Upload a current one."


def test_a_certificate_for_another_name_is_refused() -> None:
    chain, key = _leaf(["chat.example.com", "www.example.com"])
    assert _refused(chain, key) == (
        "The certificate is for chat.example.com, www.example.com, not for office.local"
        " or office. Upload a certificate whose subject alternative names include the"
        " device's name."
    )
    # ...unless the admin says that is the address the office uses.
    validate_custom(chain, key, names=[*NAMES, "chat.example.com"], now=NOW)
    chain, key = _leaf(["*.office.local"])  # a wildcard does not cover its own parent
    assert "not for office.local" in _refused(chain, key)


@pytest.mark.parametrize(
    ("cert", "key", "message"),
    [
        (b"", b"x", "The certificate file is empty."),
        (b"hello", b"x", "The certificate could not be read"),
        (
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            b"x",
            "The certificate could not",
        ),
        ("KEY", "KEY", "The certificate file holds a private key"),
        ("CERT", "CERT", "The key file holds a certificate, not a private key"),
        ("CERT", b"junk", "The private key could not be read"),
        ("CERT", "ENCRYPTED", "The private key is protected by a passphrase"),
        ("CERT", "SMALL_RSA", "The RSA key has 1024 bits; browsers need at least 2048."),
    ],
)
def test_unreadable_uploads_get_a_clear_message(
    cert: bytes | str, key: bytes | str, message: str
) -> None:
    chain, key_pem = _leaf(["office.local"])
    own = ec.generate_private_key(ec.SECP256R1())
    samples = {
        "CERT": chain,
        "KEY": key_pem,
        "ENCRYPTED": _key_pem(own, b"secret"),
        "SMALL_RSA": _key_pem(rsa.generate_private_key(public_exponent=65537, key_size=1024)),
    }
    got = _refused(
        samples[cert] if isinstance(cert, str) else cert,
        samples[key] if isinstance(key, str) else key,
    )
    assert got.startswith(message), got


def test_a_ca_certificate_or_a_client_certificate_is_refused() -> None:
    ca_pem = CA.public_bytes(serialization.Encoding.PEM)
    assert _refused(ca_pem, _key_pem(CA_KEY)).startswith("This is a CA certificate.")
    chain, key = _leaf(["office.local"], usage=[ExtendedKeyUsageOID.CLIENT_AUTH])
    assert _refused(chain, key).startswith("The certificate is not for web servers")


def test_a_chain_out_of_order_is_refused() -> None:
    chain, key = _leaf(["office.local"])
    other_ca = _corporate_ca()[1].public_bytes(serialization.Encoding.PEM)
    leaf_only = chain.split(b"-----END CERTIFICATE-----\n")[0] + b"-----END CERTIFICATE-----\n"
    assert _refused(leaf_only + other_ca, key).startswith("The certificates after the first")


def test_an_installed_certificate_survives_every_renewal(tmp_path: Path) -> None:
    paths = TlsPaths.in_data_dir(tmp_path)
    ensure_certificates(paths, "office", LAN, NOW)
    chain, key = _leaf(["office.local"])
    install_custom(paths, chain, key, names=NAMES, now=NOW)
    assert stat.S_IMODE(paths.custom_key.stat().st_mode) == 0o600
    saved = paths.custom_cert.read_bytes(), paths.custom_key.read_bytes()
    for later, addresses in (
        (NOW + timedelta(days=370), LAN),  # the local certificate is near expiry
        (NOW + timedelta(days=371), [ipaddress.ip_address("10.9.9.9")]),  # moved
    ):
        assert ensure_certificates(paths, "office", addresses, later) is True
        assert (paths.custom_cert.read_bytes(), paths.custom_key.read_bytes()) == saved
    ensure_certificates(paths, "renamed", LAN, NOW)
    assert (paths.custom_cert.read_bytes(), paths.custom_key.read_bytes()) == saved


async def test_device_tls_serves_the_upload_until_it_expires(tmp_path: Path) -> None:
    clock = [NOW]

    async def name() -> str:
        return "office"

    device = DeviceTls(tmp_path, device_name=name, addresses=lambda: LAN, clock=lambda: clock[0])
    await device.check()
    local = await device.info()
    chain, key = _leaf(["office.local"], not_after=NOW + timedelta(days=60))
    with pytest.raises(CertificateRejected, match="does not belong"):
        await device.install_custom(chain, _leaf(["office.local"])[1])
    assert (await device.info()).kind == "local"
    info = await device.install_custom(chain, key)
    assert info.kind == "custom" and info.issuer == "CN=Acme corporate CA"
    assert info.ca_fingerprint == local.ca_fingerprint  # /ca.crt still offers the local CA
    clock[0] = NOW + timedelta(days=30)
    await device.check()
    assert (await device.info()).kind == "custom"
    clock[0] = NOW + timedelta(days=61)  # expired: fall back to the device's own certificate
    await device.check()
    info = await device.info()
    assert info.kind == "local" and info.custom_expired
    assert paths_exist(tmp_path)
    assert await device.remove_custom() is True
    assert not (await device.info()).custom_expired
    with pytest.raises(CertificateRejected, match="is not a host name"):
        await device.install_custom(chain, key, also_names=["bad name/"])


def paths_exist(data: Path) -> bool:
    return (data / "tls" / "custom.crt").exists() and (data / "tls" / "custom.key").exists()
