"""The admin area's device section with the real app in appliance mode, in this process
(real HTTPS on loopback, real certificate files), under blockbuster (as every integration
test: tests/integration/conftest.py): rename, certificate upload and removal, a new CA, and
a backup that carries the certificates. Also the admin routes in development mode never
block the event loop."""

from __future__ import annotations

import asyncio
import io
import ssl
import tarfile
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from appliance.app import build_app
from appliance.chat import setup
from appliance.config import load_settings
from appliance.state.app_keys import DEVICE_TLS, SERVICES
from appliance.web.appliance_sites import ApplianceSites, start_appliance_sites

PASSWORD = "admin-password"
JSON = {"Content-Type": "application/json"}


@dataclass
class Running:
    app: web.Application
    base: str
    http: aiohttp.ClientSession
    data: Path

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        kw: dict[str, Any] = {}
        if body is not None:
            kw = {"json": body}
        async with self.http.request(method, self.base + path, **kw) as r:
            payload = await r.json() if r.content_type == "application/json" else await r.read()
            return r.status, payload

    async def upload(self, path: str, fields: dict[str, bytes]) -> tuple[int, Any]:
        form = aiohttp.FormData()
        for name, data in fields.items():
            form.add_field(name, data, filename=f"{name}.pem")
        async with self.http.post(self.base + path, data=form) as r:
            return r.status, await r.json()


def _settings(data: Path, mode: str) -> Any:
    return load_settings(
        data,
        environ={"PYCHAT_AUTH_SCRYPT_N": "1024"},
        overrides={
            "server.mode": mode,
            "server.https_listen": "127.0.0.1:0",
            "server.http_listen": "127.0.0.1:0",
            "discovery.mdns": "off",  # tests never multicast
        },
    )


async def _login(http: aiohttp.ClientSession, base: str) -> None:
    body = {"username": "admin", "password": PASSWORD}
    async with http.post(f"{base}/api/auth/login", json=body) as r:
        assert r.status == 200


@pytest.fixture
async def appliance(tmp_path: Path) -> AsyncIterator[Running]:
    settings = _settings(tmp_path, "appliance")
    app = build_app(settings)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    sites: ApplianceSites | None = None
    try:
        sites = await start_appliance_sites(runner, settings, app[DEVICE_TLS])
        await setup.initialize(app[SERVICES], "Acme", "admin", PASSWORD)
        trusting = ssl.create_default_context(cafile=str(tmp_path / "tls" / "ca.crt"))
        # Regenerating the CA is part of the test: after it, check names but not the CA.
        trusting.check_hostname = False
        trusting.verify_mode = ssl.CERT_NONE
        connector = aiohttp.TCPConnector(ssl=trusting)
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(connector=connector, cookie_jar=jar) as http:
            await _login(http, sites.https_url)
            yield Running(app, sites.https_url, http, tmp_path)
    finally:
        if sites is not None:
            await sites.stop()
        await runner.cleanup()


def _custom_certificate(names: list[str]) -> tuple[bytes, bytes]:
    """A chain (leaf + its CA) and key, as an office's own CA would issue them."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Acme corporate CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3000))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=90))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return leaf.public_bytes(pem) + ca.public_bytes(pem), key_pem


async def _backup(running: Running) -> bytes:
    async with running.http.get(running.base + "/api/admin/backup") as r:
        assert r.status == 200
        return await r.read()


async def _dry_run(running: Running, archive: bytes) -> dict[str, Any]:
    form = aiohttp.FormData()
    form.add_field("backup", archive, filename="b.tar.gz")
    async with running.http.post(running.base + "/api/admin/restore?dry_run=1", data=form) as r:
        assert r.status == 200, await r.text()
        return await r.json()  # type: ignore[no-any-return]


async def test_the_device_section_in_appliance_mode(appliance: Running) -> None:
    device_tls = appliance.app[DEVICE_TLS]
    status, found = await appliance.call("GET", "/api/admin/device")
    assert status == 200, found
    assert found["name"] == "pychat" and found["https"] is True
    assert found["mdns"] == {"enabled": False, "name": None}
    assert found["ca_url"] == "/ca.crt" and found["trust_url"] == "/trust"
    certificate = found["certificate"]
    assert certificate["kind"] == "local" and "pychat.local" in certificate["names"]
    assert certificate["ca_fingerprint"] == device_tls.ca_fingerprint

    # Rename: stored, and the renewal task issues a certificate for the new name.
    checks = device_tls.checks
    status, found = await appliance.call("PATCH", "/api/admin/device", {"name": "Office"})
    assert status == 200 and found["name"] == "office"
    await asyncio.wait_for(device_tls.wait_for_checks(checks + 1), 30)
    found = (await appliance.call("GET", "/api/admin/device"))[1]
    assert "office.local" in found["certificate"]["names"]
    status, body = await appliance.call("PATCH", "/api/admin/device", {"name": "-bad-"})
    assert status == 400 and "device name" in body["error"]["message"]

    # Upload a certificate of the office's own; a wrong one is refused with the reason.
    chain, key = _custom_certificate(["chat.acme.test"])
    status, body = await appliance.upload(
        "/api/admin/device/certificate", {"certificate": chain, "key": key}
    )
    assert status == 400 and "chat.acme.test" in body["error"]["message"], body
    status, body = await appliance.upload(
        "/api/admin/device/certificate",
        {"certificate": chain, "key": key, "names": b"chat.acme.test"},
    )
    assert status == 200, body
    assert body["certificate"]["kind"] == "custom"
    status, body = await appliance.upload("/api/admin/device/certificate", {"certificate": chain})
    assert status == 400
    status, body = await appliance.call("DELETE", "/api/admin/device/certificate")
    assert status == 200 and body["removed"] is True
    assert body["certificate"]["kind"] == "local"

    # A backup carries the certificates; its CA is this device's.
    before_new_ca = await _backup(appliance)
    with tarfile.open(fileobj=io.BytesIO(before_new_ca)) as tar:
        names = set(tar.getnames())
        modes = {m.name: m.mode for m in tar.getmembers()}
    assert {"tls/ca.crt", "tls/ca.key", "tls/server.crt", "tls/server.key"} <= names
    assert modes["tls/ca.key"] == 0o600 and modes["pychat.db"] == 0o600
    report = await _dry_run(appliance, before_new_ca)
    assert report["includes"] == {"database": True, "tls": True}
    assert report["ca_fingerprint"] == device_tls.ca_fingerprint
    assert not any("another CA" in w for w in report["warnings"])

    # A new CA: only when confirmed; afterwards /ca.crt is the new one.
    old_fingerprint = device_tls.ca_fingerprint
    status, _ = await appliance.call("POST", "/api/admin/device/ca", {"confirm": False})
    assert status == 400
    status, body = await appliance.call("POST", "/api/admin/device/ca", {"confirm": True})
    assert status == 200
    assert body["certificate"]["ca_fingerprint"] == device_tls.ca_fingerprint
    assert device_tls.ca_fingerprint != old_fingerprint
    status, served = await appliance.call("GET", "/ca.crt")
    assert status == 200 and served == device_tls.ca_pem
    # The older backup now has another CA than the device: the dry run says so.
    report = await _dry_run(appliance, before_new_ca)
    assert any("another CA" in w for w in report["warnings"])


async def test_admin_routes_never_block_the_loop_and_clean_up(tmp_path: Path) -> None:
    threads_before = set(threading.enumerate())
    tasks_before = asyncio.all_tasks()
    app = build_app(_settings(tmp_path, "development"))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        await setup.initialize(app[SERVICES], "Acme", "admin", PASSWORD)
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as http:
            base = str(server.make_url(""))
            await _login(http, base)
            running = Running(app, base, http, tmp_path)
            for path in (
                "/api/admin/users",
                "/api/admin/invites",
                "/api/admin/device",
                "/api/admin/storage",
                "/api/admin/logs",
                "/api/admin/version",
                "/api/admin/backup/status",
            ):
                status, body = await running.call("GET", path)
                assert status == 200, (path, body)
            assert (await running.call("GET", "/api/admin/device"))[1]["certificate"] is None
            status, _ = await running.call("POST", "/api/admin/device/ca", {"confirm": True})
            assert status == 409
            status, made = await running.call("POST", "/api/admin/users/1/reset")
            assert status == 201
            token = made["url"].split("token=")[1]
            body = {"token": token, "password": "another-password"}
            assert (await running.call("POST", "/api/auth/reset", body))[0] == 204
            await _login_with(http, base, "another-password")
            archive = await _backup(running)
            report = await _dry_run(running, archive)
            assert report["includes"] == {"database": True, "tls": False}
            form = aiohttp.FormData()
            form.add_field("backup", archive, filename="b.tar.gz")
            async with http.post(base + "/api/admin/restore", data=form) as r:
                assert r.status == 202
            assert (await running.call("DELETE", "/api/admin/restore"))[0] == 204
    finally:
        await server.close()
    assert not asyncio.all_tasks() - tasks_before - {asyncio.current_task()}
    # aiosqlite's threads end just after their connection closes: give them a moment.
    new_threads = [
        t
        for t in set(threading.enumerate()) - threads_before
        if not t.name.startswith(("asyncio_", "ThreadPoolExecutor"))
    ]
    for t in new_threads:
        await asyncio.to_thread(t.join, 5)
    assert not [t for t in new_threads if t.is_alive()], new_threads
    left = await asyncio.to_thread(lambda: [p.name for p in tmp_path.iterdir()])
    assert not [name for name in left if name.startswith((".backup-", ".upload-"))]


async def _login_with(http: aiohttp.ClientSession, base: str, password: str) -> None:
    body = {"username": "admin", "password": password}
    async with http.post(f"{base}/api/auth/login", json=body) as r:
        assert r.status == 200
