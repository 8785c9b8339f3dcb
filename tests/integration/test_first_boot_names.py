"""The first boot as an office admin meets it, with the real app in appliance mode in this
process (real HTTPS on loopback, real certificate files; mDNS off: tests never multicast).

An admin may trust the CA from the first minute (/trust and /ca.crt are offered before
the wizard runs), so renaming the device (in the wizard or on the admin page) must keep
that CA, the new certificate must verify under it, and the old name must keep working
for a while. Also: /robots.txt, and chatty libraries kept out of the admin log.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from ipaddress import IPv4Interface, IPv6Interface
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import segno
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.test_utils import TestServer
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from appliance.app import build_app
from appliance.chat import setup
from appliance.config import Settings, load_settings
from appliance.discovery.device_name import RENAME_GRACE_S
from appliance.state.app_keys import DEVICE_TLS, SERVICES
from appliance.tls.device import DeviceTls
from appliance.tls.issue import PRIVATE_NETWORKS, cert_pem, key_pem, new_key, utcnow
from appliance.tls.renewal import tls_renewal
from appliance.tls.store import TlsPaths
from appliance.web.appliance_sites import ApplianceSites, start_appliance_sites

PASSWORD = "owner-password-1"


def _settings(data: Path, mode: str = "appliance") -> Settings:
    return load_settings(
        data,
        environ={"PYCHAT_AUTH_SCRYPT_N": "1024"},
        overrides={
            "server.mode": mode,
            "server.https_listen": "127.0.0.1:0",
            "server.http_listen": "127.0.0.1:0",
            "discovery.mdns": "off",
        },
    )


@dataclass
class Device:
    app: web.Application
    sites: ApplianceSites
    data: Path

    @property
    def tls(self) -> DeviceTls:
        return self.app[DEVICE_TLS]

    @property
    def port(self) -> int:
        return self.sites.https_port

    def ca_pem(self) -> bytes:
        return (self.data / "tls" / "ca.crt").read_bytes()

    def session(self, trusted_ca: bytes, name: str) -> aiohttp.ClientSession:
        """A browser that trusts `trusted_ca` and reaches the device as `<name>.local`
        (resolved to loopback here, as mDNS would resolve it on the LAN)."""
        context = ssl.create_default_context(cadata=trusted_ca.decode())
        return aiohttp.ClientSession(
            base_url=f"https://{name}.local:{self.port}",
            connector=aiohttp.TCPConnector(ssl=context, resolver=_Loopback()),
            cookie_jar=aiohttp.CookieJar(unsafe=True),
        )


class _Loopback(AbstractResolver):
    """Every name is this machine: the device under test."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(
                hostname=host,
                host="127.0.0.1",
                port=port,
                family=socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
        ]

    async def close(self) -> None:
        return None


DeviceFactory = Callable[..., Awaitable[Device]]


@pytest.fixture
async def start_device(tmp_path: Path) -> AsyncIterator[DeviceFactory]:
    """`await start_device(set_up=...)`: the real app served the appliance way."""
    runners: list[tuple[web.AppRunner, ApplianceSites | None]] = []

    async def start(*, set_up: bool) -> Device:
        data = tmp_path / f"data{len(runners)}"
        data.mkdir()
        settings = _settings(data)
        app = build_app(settings)
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        runners.append((runner, None))
        await runner.setup()
        sites = await start_appliance_sites(runner, settings, app[DEVICE_TLS])
        runners[-1] = (runner, sites)
        if set_up:
            await setup.initialize(app[SERVICES], "Acme", "admin", PASSWORD)
        return Device(app, sites, data)

    yield start
    for runner, sites in runners:
        if sites is not None:
            await sites.stop()
        await runner.cleanup()


async def _leaf(device: Device, trusted_ca: bytes, hostname: str) -> x509.Certificate:
    """The server certificate, verified for `hostname` against `trusted_ca` (raises if not)."""
    context = ssl.create_default_context(cadata=trusted_ca.decode())
    _, writer = await asyncio.open_connection(
        "127.0.0.1", device.port, ssl=context, server_hostname=hostname
    )
    der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    writer.close()
    await writer.wait_closed()
    return x509.load_der_x509_certificate(der)


async def _refused(device: Device, trusted_ca: bytes, hostname: str) -> str:
    with pytest.raises(ssl.SSLCertVerificationError) as caught:
        await _leaf(device, trusted_ca, hostname)
    return str(caught.value)


async def _walk_wizard(http: aiohttp.ClientSession, code: str, name: str) -> str:
    """Claim, organisation and device name; returns the security page."""
    async with http.post("/setup", data={"code": code}) as r:
        assert r.url.path == "/setup/organisation", await r.text()
    org = {"org": "Acme Ltd", "admin": "boss", "password": PASSWORD, "confirm": PASSWORD}
    async with http.post("/setup/organisation", data=org) as r:
        assert r.url.path == "/setup/device"
    async with http.post("/setup/device", data={"device_name": name}) as r:
        assert r.url.path == "/setup/security"
        return await r.text()


async def _claim(device: Device) -> str:
    return await asyncio.to_thread(lambda: (device.data / "claim-code.txt").read_text().strip())


async def test_the_ca_trusted_at_first_boot_survives_the_wizard_rename(
    start_device: DeviceFactory,
) -> None:
    device = await start_device(set_up=False)
    # An admin trusts the CA offered at first boot, before the wizard ran.
    first_ca = device.ca_pem()
    first_fingerprint = device.tls.ca_fingerprint
    await _leaf(device, first_ca, "pychat.local")

    async with device.session(first_ca, "pychat") as http:
        page = await _walk_wizard(http, await _claim(device), "acme-chat")
        assert "does not cover" not in page
        assert re.sub(r":<wbr>", ":", page).count(first_fingerprint) == 1
        form = aiohttp.FormData()
        form.add_field("certificate", "local")
        async with http.post("/setup/security", data=form) as r:
            assert r.url.path == "/setup/access"
        async with http.post("/setup/access", data={"registration": "invite"}) as r:
            assert r.url.path == "/setup/done"
            done = await r.text()

    # The same CA: what the admin trusted still verifies the device, under its new name...
    assert device.ca_pem() == first_ca
    assert device.tls.ca_fingerprint == first_fingerprint
    leaf = await _leaf(device, first_ca, "acme-chat.local")
    assert leaf.subject.rfc4514_string() == "CN=acme-chat.local"
    # ...and under the old one, still answered for the grace period.
    await _leaf(device, first_ca, "pychat.local")
    assert device.tls.former_names == ("pychat",)

    # The done page hands out the new name, not the Host it was reached by.
    app_url = f"https://acme-chat.local:{device.port}/"
    assert f'href="{app_url}"' in done
    invite = re.search(r'value="([^"]*/register\?invite=[^"]*)"', done)
    assert invite is not None and invite.group(1).startswith(f"{app_url}register?invite=")
    qr = segno.make(app_url, error="m").svg_inline(scale=4, dark="#111", light="#fff")
    assert str(qr) in done, "the QR code encodes the new address"
    assert "pychat.local" not in done


async def test_a_rename_on_the_admin_page_keeps_the_ca_and_the_old_name(
    start_device: DeviceFactory,
) -> None:
    device = await start_device(set_up=True)
    first_ca = device.ca_pem()
    async with device.session(first_ca, "pychat") as http:
        body = {"username": "admin", "password": PASSWORD}
        async with http.post("/api/auth/login", json=body) as r:
            assert r.status == 200
        checks = device.tls.checks
        async with http.patch("/api/admin/device", json={"name": "office"}) as r:
            assert r.status == 200
        await asyncio.wait_for(device.tls.wait_for_checks(checks + 1), 30)
        async with http.get("/api/admin/device") as r:
            found = await r.json()
    certificate = found["certificate"]
    assert certificate["ca_covers_every_name"] is True
    assert set(certificate["names"]) >= {"office.local", "pychat.local"}
    assert device.ca_pem() == first_ca
    await _leaf(device, first_ca, "office.local")
    await _leaf(device, first_ca, "pychat.local")


async def test_the_old_name_leaves_the_certificate_when_its_time_is_up(tmp_path: Path) -> None:
    addresses: list[IPv4Interface | IPv6Interface] = [ipaddress.ip_interface("192.168.1.20/24")]
    clock, name = [utcnow()], ["pychat"]

    async def device_name() -> str:
        return name[0]

    device = DeviceTls(
        tmp_path, device_name=device_name, addresses=lambda: addresses, clock=lambda: clock[0]
    )
    app = web.Application()
    app.cleanup_ctx.append(tls_renewal(device))
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    sites = await start_appliance_sites(runner, _settings(tmp_path), device)
    running = Device(app, sites, tmp_path)
    try:
        ca = device.ca_pem
        name[0] = "front-desk"
        checks = device.checks
        device.wake()
        await asyncio.wait_for(device.wait_for_checks(checks + 1), 10)
        await _leaf(running, ca, "front-desk.local")
        await _leaf(running, ca, "pychat.local")

        clock[0] += timedelta(seconds=RENAME_GRACE_S + 1)
        device.wake()
        await asyncio.wait_for(device.wait_for_checks(checks + 2), 10)
        assert "Hostname mismatch" in await _refused(running, ca, "pychat.local")
        await _leaf(running, ca, "front-desk.local")
        assert device.ca_pem == ca and device.former_names == ()
    finally:
        await sites.stop()
        await runner.cleanup()


async def _narrow_ca(device: Device) -> bytes:
    """The device gets a CA as an older version might have made (it permits pychat.local
    only), as after restoring an old backup; the next check issues under it."""
    await asyncio.to_thread(_write_narrow_ca, TlsPaths.in_data_dir(device.data))
    await device.tls.check()
    return device.ca_pem()


def _write_narrow_ca(paths: TlsPaths) -> None:
    key, now = new_key(), utcnow()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Pychat pychat.local CA")])
    permitted: list[x509.GeneralName] = [x509.DNSName("pychat.local")]
    permitted += [x509.IPAddress(net) for net in PRIVATE_NETWORKS]
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=2))
        .not_valid_after(now + timedelta(days=3000))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.NameConstraints(permitted, None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    paths.ca_key.write_bytes(key_pem(key))
    paths.ca_cert.write_bytes(cert_pem(cert))


async def test_a_narrower_ca_is_never_swapped_without_asking(
    start_device: DeviceFactory,
) -> None:
    # The admin page: the rename is refused with the reason; a new CA (confirmed) unlocks it.
    device = await start_device(set_up=True)
    narrow = await _narrow_ca(device)
    await _leaf(device, narrow, "pychat.local")
    async with device.session(narrow, "pychat") as http:
        body = {"username": "admin", "password": PASSWORD}
        async with http.post("/api/auth/login", json=body) as r:
            assert r.status == 200
        async with http.get("/api/admin/device") as r:
            assert (await r.json())["certificate"]["ca_covers_every_name"] is False
        async with http.patch("/api/admin/device", json={"name": "office"}) as r:
            refused: dict[str, Any] = await r.json()
            assert r.status == 409
        assert refused["error"]["code"] == "conflict"
        assert "does not cover office.local" in refused["error"]["message"]
        assert device.ca_pem() == narrow
        async with http.post("/api/admin/device/ca", json={"confirm": True}) as r:
            assert r.status == 200
        async with http.patch("/api/admin/device", json={"name": "office"}) as r:
            assert r.status == 200
    assert device.ca_pem() != narrow

    # The wizard: the security step says so, and makes a new CA only when ticked.
    device = await start_device(set_up=False)
    narrow = await _narrow_ca(device)
    async with device.session(narrow, "pychat") as http:
        page = await _walk_wizard(http, await _claim(device), "acme-chat")
        assert "does not cover" in page and 'name="new_ca"' in page
        assert device.ca_pem() == narrow, "showing the step changes nothing"
        async with http.post("/setup/security", data={"certificate": "local"}) as r:
            assert r.url.path == "/setup/security"
            assert "Tick the box to make a new one" in await r.text()
        assert device.ca_pem() == narrow
        form = {"certificate": "local", "new_ca": "yes"}
        async with http.post("/setup/security", data=form) as r:
            assert r.url.path == "/setup/access"
    renewed = device.ca_pem()
    assert renewed != narrow
    await _leaf(device, renewed, "acme-chat.local")


async def test_robots_txt_keeps_search_engines_out(tmp_path: Path) -> None:
    server = TestServer(build_app(_settings(tmp_path, "development")), host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http, http.get(server.make_url("/robots.txt")) as r:
            assert r.status == 200 and r.content_type == "text/plain"
            assert await r.text() == "User-agent: *\nDisallow: /\n"
    finally:
        await server.close()


async def test_aioice_info_lines_stay_out_of_the_admin_log(tmp_path: Path) -> None:
    app = build_app(_settings(tmp_path, "development"))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    # What `pychat serve` sets up: INFO from every logger (aioice logs each candidate pair).
    chatty = [logging.getLogger(n) for n in ("aioice.ice", "aiortc.rtcpeerconnection", "pychat")]
    levels = [each.level for each in chatty]
    for each in chatty:
        each.setLevel(logging.INFO)
    try:
        await setup.initialize(app[SERVICES], "Acme", "admin", PASSWORD)
        aioice, aiortc, ours = chatty
        aioice.info("Connection(0) Check CandidatePair(('10.0.0.2', 5), ('10.0.0.3', 6)) done")
        aiortc.info("RTCPeerConnection() ICE connection state is checking")
        aioice.warning("Connection(0) Consent to send expired")
        ours.info("an ordinary server line")
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            body = {"username": "admin", "password": PASSWORD}
            async with http.post(server.make_url("/api/auth/login"), json=body) as r:
                assert r.status == 200
            async with http.get(server.make_url("/api/admin/logs?limit=2000")) as r:
                lines = (await r.json())["lines"]
    finally:
        for each, level in zip(chatty, levels, strict=True):
            each.setLevel(level)
        await server.close()
    messages = [line["message"] for line in lines]
    assert "an ordinary server line" in messages
    assert "Connection(0) Consent to send expired" in messages, "warnings still reach it"
    assert not [m for m in messages if "CandidatePair" in m or "ICE connection state" in m]
