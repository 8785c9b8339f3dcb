"""Appliance mode end to end on loopback: the real app over HTTPS with the device's own CA,
the plain-HTTP side that redirects (but serves the CA and the trust page), certificate
hot-swap, and no HSTS anywhere. Real TLS on 127.0.0.1 free ports, real files, no mocks."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import ipaddress
import re
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from ipaddress import IPv4Interface, IPv6Interface
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography import x509

from appliance.app import build_app
from appliance.config import Settings, load_settings
from appliance.state.app_keys import DEVICE_TLS
from appliance.tls.device import DeviceTls
from appliance.tls.issue import utcnow
from appliance.tls.renewal import tls_renewal
from appliance.web.appliance_sites import ApplianceSites, start_appliance_sites
from appliance.web.https_redirect import add_trust_routes, build_redirect_app

NAME = "office"


@dataclass
class Appliance:
    device: DeviceTls
    sites: ApplianceSites
    addresses: list[IPv4Interface | IPv6Interface]
    clock: list[datetime]
    data: Path

    @property
    def ca_file(self) -> Path:
        return self.data / "tls" / "ca.crt"

    def trusting_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))


def _settings(data: Path) -> Settings:
    return load_settings(
        data,
        environ={"PYCHAT_AUTH_SCRYPT_N": "1024"},
        overrides={
            "server.mode": "appliance",
            "server.https_listen": "127.0.0.1:0",
            "server.http_listen": "127.0.0.1:0",
            "discovery.mdns": "off",  # tests never multicast outside their own namespaces
        },
    )


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@pytest.fixture
async def appliance(tmp_path: Path) -> AsyncIterator[Appliance]:
    """A small app served the appliance way (the real app has a test of its own below)."""
    addresses: list[IPv4Interface | IPv6Interface] = [ipaddress.ip_interface("192.168.1.20/24")]
    clock = [utcnow()]

    async def device_name() -> str:
        return NAME

    device = DeviceTls(
        tmp_path, device_name=device_name, addresses=lambda: addresses, clock=lambda: clock[0]
    )
    app = web.Application()
    app.router.add_get("/api/health", _health)
    app.cleanup_ctx.append(tls_renewal(device))
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    sites = await start_appliance_sites(runner, _settings(tmp_path), device)
    try:
        yield Appliance(device, sites, addresses, clock, tmp_path)
    finally:
        await sites.stop()
        await runner.cleanup()


async def _peer_certificate(port: int, context: ssl.SSLContext) -> x509.Certificate:
    _, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=context, server_hostname=f"{NAME}.local"
    )
    der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    writer.close()
    await writer.wait_closed()
    return x509.load_der_x509_certificate(der)


async def test_a_client_that_trusts_only_the_ca_connects_by_name(appliance: Appliance) -> None:
    url = f"https://127.0.0.1:{appliance.sites.https_port}/api/health"
    async with (
        aiohttp.ClientSession() as http,
        http.get(url, ssl=appliance.trusting_context(), server_hostname=f"{NAME}.local") as r,
    ):
        assert r.status == 200
        assert "Strict-Transport-Security" not in r.headers
    # Verified by its address too (the certificate names every LAN address; not 127.0.0.1).
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await http.get(url, ssl=appliance.trusting_context())


async def test_a_client_without_the_ca_or_for_another_name_is_refused(
    appliance: Appliance,
) -> None:
    url = f"https://127.0.0.1:{appliance.sites.https_port}/api/health"
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientConnectorCertificateError) as caught:
            await http.get(url, ssl=ssl.create_default_context(), server_hostname="office.local")
        assert "unable to get local issuer certificate" in str(caught.value)
        with pytest.raises(aiohttp.ClientConnectorCertificateError) as caught:
            await http.get(url, ssl=appliance.trusting_context(), server_hostname="example.com")
        assert "Hostname mismatch" in str(caught.value)


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated")
async def test_tls_1_1_is_refused_and_1_2_accepted(appliance: Appliance) -> None:
    port = appliance.sites.https_port

    def client(version: ssl.TLSVersion) -> ssl.SSLContext:
        context = appliance.trusting_context()
        context.set_ciphers("DEFAULT:@SECLEVEL=0")  # let this client offer TLS 1.1 at all
        context.minimum_version = ssl.TLSVersion.TLSv1_1
        context.maximum_version = version
        return context

    # The server ends the handshake (asyncio closes without flushing the alert).
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        await _peer_certificate(port, client(ssl.TLSVersion.TLSv1_1))
    # The same client allowed TLS 1.2 connects: the version alone was refused.
    leaf = await _peer_certificate(port, client(ssl.TLSVersion.TLSv1_2))
    assert leaf.subject.rfc4514_string() == f"CN={NAME}.local"


async def test_a_renewed_certificate_is_served_to_new_connections(appliance: Appliance) -> None:
    port, trusting = appliance.sites.https_port, appliance.trusting_context()
    first = await _peer_certificate(port, trusting)
    # The renewal task, woken instead of waiting a day, sees the new address...
    checks = appliance.device.checks
    appliance.addresses.append(ipaddress.ip_interface("10.0.0.9/8"))
    appliance.device.wake()
    await asyncio.wait_for(appliance.device.wait_for_checks(checks + 1), 10)
    second = await _peer_certificate(port, trusting)
    assert second.serial_number != first.serial_number
    san = second.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {str(a) for a in san.get_values_for_type(x509.IPAddress)} == {
        "10.0.0.9",
        "192.168.1.20",
    }
    # ...and a clock near expiry (injected, not waited for). The new certificate is dated
    # from that future, so this client looks at it without judging its dates.
    appliance.clock[0] = second.not_valid_after_utc - timedelta(days=5)
    assert await appliance.device.check() is True
    look = ssl.create_default_context()
    look.check_hostname, look.verify_mode = False, ssl.CERT_NONE
    third = await _peer_certificate(port, look)
    assert third.not_valid_after_utc > second.not_valid_after_utc
    assert await appliance.device.check() is False
    assert (await _peer_certificate(port, look)).serial_number == third.serial_number


async def test_plain_http_redirects_to_https_keeping_path_and_query(appliance: Appliance) -> None:
    http_url = f"http://127.0.0.1:{appliance.sites.http_port}"
    https_port = appliance.sites.https_port
    cases = [
        (
            "GET",
            "/rooms/5?x=1&y=%20z",
            "office.local",
            301,
            "https://office.local:{p}/rooms/5?x=1&y=%20z",
        ),
        ("HEAD", "/", "office.local:80", 301, "https://office.local:{p}/"),
        ("POST", "/api/auth/login", "192.168.1.20", 308, "https://192.168.1.20:{p}/api/auth/login"),
        ("GET", "/", "[fd00::20]:8080", 301, "https://office.local:{p}/"),  # not its address
        (
            "GET",
            "//evil.example/x",
            "office.local",
            301,
            "https://office.local:{p}//evil.example/x",
        ),
        ("GET", "/", "evil.example/@x", 301, "https://office.local:{p}/"),  # malformed Host
        ("GET", "/", "[not-an-ip]", 301, "https://office.local:{p}/"),
        ("POST", "/ca.crt", "office.local", 308, "https://office.local:{p}/ca.crt"),
    ]
    async with aiohttp.ClientSession() as http:
        for method, path, host, status, location in cases:
            async with http.request(
                method, http_url + path, headers={"Host": host}, allow_redirects=False
            ) as r:
                assert r.status == status, (method, path, host)
                assert r.headers["Location"] == location.format(p=https_port), (path, host)
                assert "Strict-Transport-Security" not in r.headers
        # Following the redirect lands on the app over HTTPS, for a client that trusts the CA.
        async with http.get(
            http_url + "/api/health",
            headers={"Host": "127.0.0.1"},
            ssl=appliance.trusting_context(),
            server_hostname=f"{NAME}.local",
        ) as r:
            assert r.status == 200 and r.url.scheme == "https"
            assert "Strict-Transport-Security" not in r.headers


async def test_the_standard_https_port_is_left_out_of_the_location(appliance: Appliance) -> None:
    server = TestServer(build_redirect_app(appliance.device, https_port=443), host="127.0.0.1")
    await server.start_server()
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(
                server.make_url("/a?b=c"),
                headers={"Host": "office.local:80"},
                allow_redirects=False,
            ) as r,
        ):
            assert r.status == 301 and r.headers["Location"] == "https://office.local/a?b=c"
            assert r.headers["Cache-Control"] == "max-age=86400"
    finally:
        await server.close()


async def test_plain_http_serves_the_ca_certificate(appliance: Appliance) -> None:
    url = f"http://127.0.0.1:{appliance.sites.http_port}/ca.crt"
    async with aiohttp.ClientSession() as http:
        async with http.get(url, allow_redirects=False) as r:
            assert r.status == 200
            assert r.headers["Content-Type"] == "application/x-x509-ca-cert"
            assert r.headers["Content-Disposition"] == 'attachment; filename="office-ca.crt"'
            assert "Strict-Transport-Security" not in r.headers
            assert await r.read() == appliance.ca_file.read_bytes()
        async with http.head(url, allow_redirects=False) as r:
            assert r.status == 200


async def test_plain_http_serves_a_strict_trust_page(appliance: Appliance) -> None:
    url = f"http://127.0.0.1:{appliance.sites.http_port}/trust"
    async with (
        aiohttp.ClientSession() as http,
        http.get(url, headers={"Host": "office.local"}, allow_redirects=False) as r,
    ):
        assert r.status == 200 and r.content_type == "text/html"
        assert "Strict-Transport-Security" not in r.headers
        page = await r.text()
        csp = r.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp and "form-action 'none'" in csp
    style = re.search(r"<style>(.*?)</style>", page, re.S)
    assert style is not None
    digest = base64.b64encode(hashlib.sha256(style.group(1).encode()).digest()).decode()
    assert f"'sha256-{digest}'" in csp  # the page's only style is allowed by its hash
    assert "<script" not in page.lower() and not re.search(r"<[^>]*\son\w+=", page)
    assert appliance.device.ca_fingerprint in page
    assert len(appliance.device.ca_fingerprint) == 95
    for system in ("Windows", "macOS", "iPhone and iPad", "Android", "Linux", "ChromeOS"):
        assert f"<h2>{system}</h2>" in page
    assert 'href="/ca.crt"' in page and "office-ca.crt" in page
    assert f'href="https://office.local:{appliance.sites.https_port}/"' in page


async def test_the_real_app_in_appliance_mode_never_sends_hsts(tmp_path: Path) -> None:
    async def device_name() -> str:
        return NAME

    device = DeviceTls(tmp_path, device_name=device_name, addresses=list)
    app = build_app(_settings(tmp_path))
    app.cleanup_ctx.append(tls_renewal(device))
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    sites = await start_appliance_sites(runner, _settings(tmp_path), device)
    trusting = ssl.create_default_context(cafile=str(tmp_path / "tls" / "ca.crt"))
    try:
        async with aiohttp.ClientSession() as http:
            for path in ("/", "/setup", "/api/health", "/api/rooms", "/nowhere"):
                async with http.get(
                    f"{sites.https_url}{path}",
                    ssl=trusting,
                    server_hostname=f"{NAME}.local",
                    allow_redirects=False,
                ) as r:
                    assert r.status != 500, path
                    assert "Strict-Transport-Security" not in r.headers, path
            async with http.get(f"{sites.http_url}/", allow_redirects=False) as r:
                assert r.status == 301
                assert "Strict-Transport-Security" not in r.headers
    finally:
        await sites.stop()
        await runner.cleanup()


async def test_the_https_app_can_serve_the_trust_routes_too(appliance: Appliance) -> None:
    app = web.Application()
    app[DEVICE_TLS] = appliance.device
    add_trust_routes(app)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=appliance.device.context)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession() as http:
            for path in ("/ca.crt", "/trust"):
                async with http.get(
                    f"https://127.0.0.1:{port}{path}",
                    headers={"Host": f"office.local:{port}"},
                    ssl=appliance.trusting_context(),
                    server_hostname=f"{NAME}.local",
                ) as r:
                    assert r.status == 200, path
                    assert "Strict-Transport-Security" not in r.headers
                    if path == "/trust":
                        assert f'href="https://office.local:{port}/"' in await r.text()
    finally:
        await runner.cleanup()
