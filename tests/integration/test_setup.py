"""The setup gate: a fresh Pychat answers nothing but health until `pychat init` has run."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from tests.client import Client
from tests.server import ADMIN_PASSWORD, Server, pychat

# Every kind of API route, real and unknown: all of them wait for setup.
GATED = [
    ("GET", "/api/me", None),
    ("GET", "/api/rooms", None),
    ("GET", "/api/users", None),
    ("GET", "/api/sessions", None),
    ("GET", "/api/ws", None),
    ("GET", "/api/rooms/1/messages", None),
    ("GET", "/api/no-such-route", None),
    ("POST", "/api/auth/login", {"username": "admin", "password": ADMIN_PASSWORD}),
    ("POST", "/api/auth/register", {"username": "early", "password": "early-password"}),
    ("POST", "/api/admin/users", {"username": "early", "password": "early-password"}),
    ("POST", "/api/rooms", {"kind": "channel", "name": "early"}),
]


def assert_error(status: int, payload: Any, expect: int, code: str) -> None:
    assert status == expect, (status, payload)
    assert payload == {"error": {"code": code, "message": payload["error"]["message"]}}
    assert isinstance(payload["error"]["message"], str) and payload["error"]["message"]


async def run_init(data: Path, admin: str, password: str) -> Any:
    return await asyncio.to_thread(
        pychat,
        "init",
        "--org",
        "Acme",
        "--admin",
        admin,
        "--password-stdin",
        data=data,
        stdin=password + "\n",
    )


async def get_page(client: Client, path: str) -> aiohttp.ClientResponse:
    async with client.http.get(client.base_url + path, allow_redirects=False) as resp:
        await resp.read()
        return resp


async def test_a_fresh_server_waits_for_setup_then_opens(
    make_server: Callable[..., Server],
) -> None:
    srv = make_server(setup=False)
    client = Client(srv.url)
    try:
        health = await client.get("/api/health")
        assert health["status"] == "ok" and health["setup"] is False
        assert re.fullmatch(r"\d+\.\d+\.\d+", health["version"])

        for method, path, body in GATED:
            status, payload = await client.call(method, path, body)
            assert_error(status, payload, 503, "setup_required")

        for path in ("/", "/rooms/1", "/login"):
            page = await get_page(client, path)
            assert page.status in (302, 303, 307), (path, page.status)
            assert page.headers["Location"] == "/setup"
        page = await get_page(client, "/setup")
        assert page.status == 200 and page.content_type == "text/html"

        # Setup done from the device's command line, while the server runs.
        done = await run_init(srv.data, "admin", ADMIN_PASSWORD)
        assert done.returncode == 0, done.stderr

        health = await client.get("/api/health")
        assert health["setup"] is True
        await client.login("admin", ADMIN_PASSWORD)
        assert client.user["admin"] is True
        rooms = (await client.get("/api/rooms"))["rooms"]
        assert rooms, "setup makes a first channel for everyone"
        page = await get_page(client, "/")
        assert page.status == 200
        page = await get_page(client, "/setup")
        assert page.status in (302, 303, 307) and page.headers["Location"] == "/"
    finally:
        await client.close()


async def test_a_failed_init_leaves_the_server_waiting_for_setup(
    make_server: Callable[..., Server],
) -> None:
    srv = make_server(setup=False)
    client = Client(srv.url)
    try:
        for admin, password in (("admin", "short"), ("Bad Name!", ADMIN_PASSWORD)):
            done = await run_init(srv.data, admin, password)
            assert done.returncode != 0
            assert done.stderr.strip() and "Traceback" not in done.stderr
        assert (await client.get("/api/health"))["setup"] is False
        status, payload = await client.call(
            "POST", "/api/auth/login", {"username": "admin", "password": "short"}
        )
        assert_error(status, payload, 503, "setup_required")
    finally:
        await client.close()


async def test_init_runs_only_once(make_server: Callable[..., Server]) -> None:
    srv = make_server()  # already set up by `pychat init`
    again = await run_init(srv.data, "intruder", "intruder-password")
    assert again.returncode != 0
    assert "already set up" in again.stderr.lower()
    assert "Traceback" not in again.stderr
    assert again.stdout == ""

    client = Client(srv.url)
    try:
        # The first setup stands: its admin still logs in, the second admin does not exist.
        await client.login("admin", ADMIN_PASSWORD)
        status, payload = await client.call(
            "POST", "/api/auth/login", {"username": "intruder", "password": "intruder-password"}
        )
        assert_error(status, payload, 401, "unauthorized")
    finally:
        await client.close()


async def test_init_prints_nothing_when_it_succeeds(tmp_path: Path) -> None:
    # protocol.md: `pychat init` exits 0 and "prints nothing but errors".
    done = await run_init(tmp_path / "data", "admin", ADMIN_PASSWORD)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert done.stderr == ""


async def test_a_malformed_claim_form_is_a_clear_error(make_server: Callable[..., Server]) -> None:
    """A multipart body without its boundary (or cut short) is the sender's mistake: 400
    with the error envelope, and the wizard still takes the right code afterwards."""
    srv = make_server(setup=False)
    async with aiohttp.ClientSession() as http:
        for content_type, body in (
            ("multipart/form-data", b""),
            ("multipart/form-data; boundary=x", b"--x\r\nContent-Disposition: form-da"),
        ):
            async with http.post(
                srv.url + "/setup",
                data=body,
                headers={"Content-Type": content_type, "Origin": srv.url},
            ) as resp:
                assert resp.status == 400, (content_type, resp.status)
                assert (await resp.json())["error"]["code"] == "bad_request"
        async with http.get(srv.url + "/setup") as resp:
            assert resp.status == 200
