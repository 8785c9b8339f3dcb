"""The first-boot wizard, as a new owner walks it with a browser that sends plain forms."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import aiohttp
import segno

from tests.client import Client
from tests.server import Server

PASSWORD = "owner-password-1"


def _claim(srv: Server) -> str:
    return (srv.data / "claim-code.txt").read_text().strip()


class Browser:
    """Forms and redirects, the way a browser without JavaScript does them. `host`: the
    name it reached the server by (the Host it sends), e.g. the first-boot `pychat.local`."""

    def __init__(self, base: str, host: str | None = None) -> None:
        self.base = base
        self.http = aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True),
            headers={"Host": host} if host is not None else None,
        )

    async def get(self, path: str) -> tuple[str, str]:
        async with self.http.get(self.base + path) as resp:
            return str(resp.url.path), await resp.text()

    async def post(
        self, path: str, form: dict[str, str] | aiohttp.FormData, **kw: object
    ) -> tuple[int, str, str]:
        async with self.http.post(self.base + path, data=form, **kw) as resp:  # type: ignore[arg-type]
            return resp.status, str(resp.url.path), await resp.text()

    async def close(self) -> None:
        await self.http.close()


async def walk_to_the_end(browser: Browser, code: str, *, registration: str = "invite") -> str:
    assert (await browser.post("/setup", {"code": code}))[1] == "/setup/organisation"
    org = {"org": "Acme Ltd", "admin": "Boss", "password": PASSWORD, "confirm": PASSWORD}
    assert (await browser.post("/setup/organisation", org))[1] == "/setup/device"
    assert (await browser.post("/setup/device", {"device_name": "acme-chat"}))[1] == (
        "/setup/security"
    )
    path, page = await browser.get("/setup/security")
    assert "fingerprint" in page and "acme-chat-ca.crt" in page
    form = aiohttp.FormData()
    form.add_field("certificate", "local")
    assert (await browser.post("/setup/security", form))[1] == "/setup/access"
    status, path, page = await browser.post("/setup/access", {"registration": registration})
    assert (status, path) == (200, "/setup/done"), page
    return page


async def test_a_new_owner_claims_names_secures_and_opens_the_device(
    make_server: Callable[..., Server],
) -> None:
    srv = make_server(setup=False)
    assert f"Claim code for the setup page: {_claim(srv)}" in srv.log()
    mode = stat.S_IMODE(os.stat(srv.data / "claim-code.txt").st_mode)
    assert mode == 0o400
    owner = Browser(srv.url)
    try:
        assert (await owner.get("/"))[0] == "/setup", "every page leads to the wizard"
        done = await walk_to_the_end(owner, _claim(srv).lower().replace("-", " "))
        assert "Acme Ltd is ready" in done and "/register?invite=" in done
        assert not (srv.data / "claim-code.txt").exists(), "the claim code is destroyed"

        # The owner is signed in as the new admin, with the choices made.
        async with owner.http.get(srv.url + "/api/me") as resp:
            me = (await resp.json())["user"]
        assert me["username"] == "boss" and me["admin"] is True
        async with owner.http.get(srv.url + "/api/admin/settings") as resp:
            chosen = await resp.json()
        assert chosen == {
            "org_name": "Acme Ltd",
            "registration": "invite",
            "device_name": "acme-chat",
        }
        # The first invite link lets a colleague in.
        invite = done.split("/register?invite=")[1].split('"')[0]
        colleague = Client(srv.url)
        status, _ = await colleague.call(
            "POST",
            "/api/auth/register",
            {"username": "colleague", "password": PASSWORD, "invite": invite},
        )
        assert status == 201
        await colleague.close()

        # It can never run again.
        assert (await owner.get("/setup"))[0] == "/"
        stranger = Browser(srv.url)
        status, path, _ = await stranger.post("/setup", {"code": "anything"})
        assert path == "/"
        assert (await stranger.get("/setup/organisation"))[0] == "/"
        await stranger.close()
    finally:
        await owner.close()


async def test_the_done_page_links_to_the_new_name(make_server: Callable[..., Server]) -> None:
    """Reached as pychat.local (the first-boot name, withdrawn a moment after the last
    step), the done page hands out acme-chat.local: its link, QR code and invite link."""
    srv = make_server(setup=False)
    port = srv.url.rsplit(":", 1)[1]
    owner = Browser(srv.url, host=f"pychat.local:{port}")
    try:
        done = await walk_to_the_end(owner, _claim(srv))
    finally:
        await owner.close()
    app_url = f"http://acme-chat.local:{port}/"
    assert f'href="{app_url}"' in done
    assert f'value="{app_url}register?invite=' in done
    qr = segno.make(app_url, error="m").svg_inline(scale=4, dark="#111", light="#fff")
    assert str(qr) in done, "the QR code encodes the new address"
    assert "pychat.local" not in done


async def test_wrong_codes_are_refused_then_throttled(make_server: Callable[..., Server]) -> None:
    srv = make_server(setup=False)
    guesser = Browser(srv.url)
    try:
        for _ in range(5):
            status, path, page = await guesser.post("/setup", {"code": "AAAA-AAAA"})
            assert (status, path) == (200, "/setup")
            assert "not the claim code" in page
        status, path, page = await guesser.post("/setup", {"code": _claim(srv)})
        assert path == "/setup" and "Too many wrong codes" in page, "even the right code waits"
        assert (srv.data / "claim-code.txt").exists()
    finally:
        await guesser.close()


async def test_steps_validate_in_place_and_cannot_be_skipped(
    make_server: Callable[..., Server],
) -> None:
    srv = make_server(setup=False)
    owner = Browser(srv.url)
    try:
        assert (await owner.get("/setup/access"))[0] == "/setup", "no claim, no wizard"
        await owner.post("/setup", {"code": _claim(srv)})
        assert (await owner.get("/setup/access"))[0] == "/setup/organisation", "no skipping"
        _, path, page = await owner.post(
            "/setup/organisation",
            {"org": "Acme", "admin": "x", "password": "short", "confirm": "short"},
        )
        assert path == "/setup/organisation"
        assert "A username is 2–32 characters" in page and "at least 8 characters" in page
        assert 'value="Acme"' in page, "answers are kept"
        _, _, page = await owner.post(
            "/setup/organisation",
            {"org": "Acme", "admin": "boss", "password": PASSWORD, "confirm": PASSWORD + "x"},
        )
        assert "The two passwords differ." in page
        await owner.post(
            "/setup/organisation",
            {"org": "Acme", "admin": "boss", "password": PASSWORD, "confirm": PASSWORD},
        )
        _status, path, page = await owner.post("/setup/device", {"device_name": "-bad name-"})
        assert path == "/setup/device" and "A device name is 1–63 characters" in page
        async with owner.http.get(srv.url + "/api/rooms") as resp:
            assert resp.status == 503, "still not set up: nothing was stored yet"
    finally:
        await owner.close()


async def test_forms_from_other_sites_are_refused(make_server: Callable[..., Server]) -> None:
    srv = make_server(setup=False)
    attacker = Browser(srv.url)
    try:
        status, _, _ = await attacker.post(
            "/setup", {"code": _claim(srv)}, headers={"Origin": "http://evil.example"}
        )
        assert status == 403
    finally:
        await attacker.close()


async def test_the_claim_code_copy_is_written_and_destroyed(
    make_server: Callable[..., Server], tmp_path: Path
) -> None:
    copy = tmp_path / "boot" / "pychat-claim.txt"
    copy.parent.mkdir()
    srv = make_server({"PYCHAT_SETUP_CLAIM_CODE_COPY": str(copy)}, setup=False)
    assert _claim(srv) in copy.read_text()
    owner = Browser(srv.url)
    try:
        await walk_to_the_end(owner, _claim(srv), registration="closed")
    finally:
        await owner.close()
    assert not copy.exists()
