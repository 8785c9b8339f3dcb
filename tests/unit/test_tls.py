"""The local CA and the server certificate: real files, `openssl verify`, injected time."""

from __future__ import annotations

import ipaddress
import re
import stat
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from blockbuster import blockbuster_ctx
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from appliance.tls.device import DeviceTls
from appliance.tls.issue import (
    cert_pem,
    fingerprint,
    lan_addresses,
    make_server_certificate,
    new_key,
    san_names,
)
from appliance.tls.store import (
    TlsPaths,
    ensure_certificates,
    load_ca,
    regenerate_ca,
    server_renewal_reason,
)
from appliance.tls.trust import TRUST_STEPS

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
LAN = [ipaddress.ip_address("192.168.1.20"), ipaddress.ip_address("fd00::20")]


def _paths(tmp_path: Path) -> TlsPaths:
    return TlsPaths.in_data_dir(tmp_path)


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _openssl_verify(paths: TlsPaths, leaf: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "openssl",
            "verify",
            "-attime",
            str(int(NOW.timestamp())),
            "-purpose",
            "sslserver",
            "-x509_strict",
            *extra,
            "-CAfile",
            str(paths.ca_cert),
            str(leaf),
        ],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture
def paths(tmp_path: Path) -> TlsPaths:
    p = _paths(tmp_path)
    assert ensure_certificates(p, "office", LAN, NOW) is True
    return p


def test_files_are_made_with_private_keys_readable_only_by_the_owner(paths: TlsPaths) -> None:
    assert stat.S_IMODE(paths.directory.stat().st_mode) == 0o700
    for key in (paths.ca_key, paths.server_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
    for cert in (paths.ca_cert, paths.server_cert):
        assert cert.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    assert not [p.name for p in paths.directory.iterdir() if p.name.startswith(".")]


def test_the_chain_verifies_with_openssl_for_the_name_and_each_address(paths: TlsPaths) -> None:
    done = _openssl_verify(paths, paths.server_cert)
    assert done.returncode == 0 and done.stdout.strip().endswith(": OK"), done.stderr
    for check in (
        ("-verify_hostname", "office.local"),
        ("-verify_hostname", "office"),
        ("-verify_ip", "192.168.1.20"),
        ("-verify_ip", "fd00::20"),
    ):
        done = _openssl_verify(paths, paths.server_cert, *check)
        assert done.returncode == 0, (check, done.stderr)
    done = _openssl_verify(paths, paths.server_cert, "-verify_hostname", "example.com")
    assert done.returncode != 0 and "hostname mismatch" in done.stderr


def test_the_ca_is_a_ten_year_p256_ca_limited_by_name_constraints(paths: TlsPaths) -> None:
    ca = _cert(paths.ca_cert)
    public = ca.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name == "secp256r1"
    basic = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical and basic.value.ca and basic.value.path_length == 0
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign
    assert not usage.value.digital_signature
    lifetime = ca.not_valid_after_utc - ca.not_valid_before_utc
    assert timedelta(days=365 * 10) <= lifetime <= timedelta(days=3653)
    assert ca.not_valid_before_utc <= NOW - timedelta(days=2)
    constraints = ca.extensions.get_extension_for_class(x509.NameConstraints)
    assert constraints.critical and constraints.value.excluded_subtrees is None
    permitted = constraints.value.permitted_subtrees or []
    assert {n.value for n in permitted if isinstance(n, x509.DNSName)} == {"local", "office"}
    assert {str(n.value) for n in permitted if isinstance(n, x509.IPAddress)} == {
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "169.254.0.0/16",
        "fc00::/7",
    }


def test_openssl_refuses_certificates_outside_the_name_constraints(paths: TlsPaths) -> None:
    ca = load_ca(paths)
    assert ca is not None
    for names, addresses in (
        (["example.com"], []),
        (["office.local"], [ipaddress.ip_address("8.8.8.8")]),
        (["office.local"], [ipaddress.ip_address("2001:db8::1")]),
        (["another"], []),
    ):
        leaf = make_server_certificate(ca.key, ca.cert, new_key(), names, addresses, NOW)
        out = paths.directory / "rogue.crt"
        out.write_bytes(cert_pem(leaf))
        done = _openssl_verify(paths, out)
        assert done.returncode != 0, (names, addresses)
        assert "subtree violation" in done.stderr, done.stderr


def test_the_server_certificate_names_the_device_and_its_lan_addresses(tmp_path: Path) -> None:
    paths = _paths(tmp_path)
    found = [
        ipaddress.ip_interface("127.0.0.1/8"),
        ipaddress.ip_interface("::1/128"),
        ipaddress.ip_interface("fe80::1/64"),  # link-local IPv6: no browser URL for it
        ipaddress.ip_interface("192.168.1.20/24"),
        ipaddress.ip_interface("10.1.2.3/16"),
        ipaddress.ip_interface("169.254.7.7/16"),
        ipaddress.ip_interface("fd12:3456::20/64"),
        ipaddress.ip_interface("2001:db8::20/64"),  # global: outside the CA's constraints
        ipaddress.ip_interface("8.8.4.4/24"),
    ]
    ensure_certificates(paths, "office", lan_addresses(found), NOW)
    leaf = _cert(paths.server_cert)
    dns, ips = san_names(leaf)
    assert dns == ["office.local", "office"]
    assert [str(a) for a in ips] == ["10.1.2.3", "169.254.7.7", "192.168.1.20", "fd12:3456::20"]
    assert leaf.subject.rfc4514_string() == "CN=office.local"
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc < timedelta(days=398)
    assert leaf.not_valid_before_utc <= NOW - timedelta(days=2)
    assert leaf.not_valid_after_utc > NOW + timedelta(days=390)


def test_the_fingerprint_is_what_openssl_shows(paths: TlsPaths) -> None:
    shown = subprocess.run(
        ["openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in", str(paths.ca_cert)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    ours = fingerprint(_cert(paths.ca_cert))
    assert re.fullmatch(r"([0-9A-F]{2}:){31}[0-9A-F]{2}", ours)
    assert shown.strip().endswith("=" + ours)


def test_nothing_is_renewed_while_the_certificate_is_good(paths: TlsPaths) -> None:
    before = paths.server_cert.read_bytes(), paths.ca_cert.read_bytes()
    for later in (NOW, NOW + timedelta(days=100), NOW + timedelta(days=364)):
        assert ensure_certificates(paths, "office", LAN, later) is False
    assert (paths.server_cert.read_bytes(), paths.ca_cert.read_bytes()) == before


def test_it_renews_within_30_days_of_expiry_under_the_same_ca(paths: TlsPaths) -> None:
    ca_before = paths.ca_cert.read_bytes()
    old = _cert(paths.server_cert)
    near = old.not_valid_after_utc - timedelta(days=29)
    ca = load_ca(paths)
    assert ca is not None
    assert server_renewal_reason(paths, ca, "office", LAN, near) == (
        f"it expires on {old.not_valid_after_utc:%Y-%m-%d}"
    )
    assert ensure_certificates(paths, "office", LAN, near) is True
    new = _cert(paths.server_cert)
    assert new.serial_number != old.serial_number
    assert new.not_valid_after_utc > near + timedelta(days=390)
    assert paths.ca_cert.read_bytes() == ca_before
    assert ensure_certificates(paths, "office", LAN, near) is False


def test_it_renews_when_the_addresses_change(paths: TlsPaths) -> None:
    moved = [ipaddress.ip_address("10.0.0.7")]
    assert ensure_certificates(paths, "office", moved, NOW + timedelta(days=1)) is True
    assert san_names(_cert(paths.server_cert))[1] == moved
    assert ensure_certificates(paths, "office", moved, NOW + timedelta(days=1)) is False
    assert ensure_certificates(paths, "office", [], NOW + timedelta(days=1)) is True
    assert san_names(_cert(paths.server_cert))[1] == []


def test_a_rename_keeps_the_ca_and_drops_the_bare_name_it_does_not_cover(paths: TlsPaths) -> None:
    ca_before = paths.ca_cert.read_bytes()
    assert ensure_certificates(paths, "office-2", LAN, NOW) is True
    assert paths.ca_cert.read_bytes() == ca_before
    assert san_names(_cert(paths.server_cert))[0] == ["office-2.local"]
    assert _openssl_verify(paths, paths.server_cert).returncode == 0
    # The wizard's rename keeps it too (people may trust it since first boot), and the
    # former name stays in the certificate while it is still answered.
    assert ensure_certificates(paths, "reception", LAN, NOW, former=["office-2"]) is True
    assert paths.ca_cert.read_bytes() == ca_before
    assert san_names(_cert(paths.server_cert))[0] == ["reception.local", "office-2.local"]
    assert _openssl_verify(paths, paths.server_cert).returncode == 0


def test_a_new_ca_reissues_the_server_certificate(paths: TlsPaths) -> None:
    old_ca = paths.ca_cert.read_bytes()
    regenerate_ca(paths, "office", LAN, NOW)
    assert paths.ca_cert.read_bytes() != old_ca
    assert _openssl_verify(paths, paths.server_cert).returncode == 0


def test_missing_or_broken_files_are_made_again(paths: TlsPaths) -> None:
    paths.server_key.unlink()
    assert ensure_certificates(paths, "office", LAN, NOW) is True
    paths.server_cert.write_bytes(b"garbage")
    assert ensure_certificates(paths, "office", LAN, NOW) is True
    assert _openssl_verify(paths, paths.server_cert).returncode == 0


def test_a_wrong_clock_never_issues_an_unusable_certificate(paths: TlsPaths) -> None:
    ca = _cert(paths.ca_cert)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)  # a Pi before NTP, without fake-hwclock
    before = paths.server_cert.read_bytes()
    assert ensure_certificates(paths, "office", LAN, epoch) is False  # no "expiry" either way
    assert paths.server_cert.read_bytes() == before
    # An address change still renews, but dated from the CA's birth, not from 1970.
    assert ensure_certificates(paths, "office", [], epoch) is True
    leaf = _cert(paths.server_cert)
    assert leaf.not_valid_before_utc >= ca.not_valid_before_utc
    assert leaf.not_valid_after_utc > NOW + timedelta(days=300)


def test_a_bad_device_name_is_refused(tmp_path: Path) -> None:
    for bad in ("", "-office", "Office Room", "a" * 64, "office.local"):
        with pytest.raises(ValueError, match="device name"):
            ensure_certificates(_paths(tmp_path), bad, LAN, NOW)


def test_trust_steps_cover_every_system() -> None:
    systems = {s.system for s in TRUST_STEPS}
    assert {"Windows", "macOS", "iPhone and iPad", "Android", "Linux", "ChromeOS"} <= systems


async def test_device_tls_checks_in_threads_and_renews_on_its_clock(tmp_path: Path) -> None:
    clock = [NOW]
    addresses = [ipaddress.ip_interface("192.168.1.20/24")]

    async def name() -> str:
        return "office"

    device = DeviceTls(
        tmp_path, device_name=name, addresses=lambda: addresses, clock=lambda: clock[0]
    )
    with blockbuster_ctx(["appliance"]):
        assert await device.check() is True  # key generation and files, off the loop
        assert await device.check() is False
        info = await device.info()
        assert info.kind == "local" and info.names == ("office.local", "office")
        assert info.addresses == ("192.168.1.20",)
        clock[0] = info.not_after - timedelta(days=10)
        assert await device.check() is True
        addresses.append(ipaddress.ip_interface("fd00::5/64"))
        assert await device.check() is True
        assert (await device.info()).addresses == ("192.168.1.20", "fd00::5")
    assert device.checks == 4
    assert device.ca_pem == (tmp_path / "tls" / "ca.crt").read_bytes()
    assert device.ca_fingerprint == info.ca_fingerprint
