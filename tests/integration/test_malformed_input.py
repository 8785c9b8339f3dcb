"""Malformed input the attacker's probe found (issue 13, item 9): each gets a clear error in
the one envelope, never a 500, and never a different meaning than the client wrote."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import aiohttp
import pytest

from appliance.tls.device import DeviceTls
from appliance.web.https_redirect import build_redirect_app
from tests.client import Client
from tests.conftest import UserFactory, new_room
from tests.server import Server

# '²' and '¹' pass str.isdigit() but int() refuses them; Arabic-Indic and full-width digits
# pass both, so '١' would have been read as id 1.
NOT_ASCII_DIGITS = ["²", "¹²", "١", "٣٤", "１", "𝟗"]


def path(text: str) -> str:
    return quote(text, safe="")


def check_envelope(status: int, payload: object, want_status: int, want_code: str) -> None:
    assert status == want_status, payload
    assert isinstance(payload, dict), payload
    assert set(payload) == {"error"} and set(payload["error"]) == {"code", "message"}, payload
    assert payload["error"]["code"] == want_code, payload


async def test_non_ascii_digits_in_path_ids_are_not_found(
    admin: Client, make_user: UserFactory
) -> None:
    alice = await make_user("digits")
    for digits in NOT_ASCII_DIGITS:
        raw = path(digits)
        for client, method, url in (
            (alice, "GET", f"/api/rooms/{raw}"),
            (alice, "GET", f"/api/rooms/{raw}/messages"),
            (alice, "POST", f"/api/rooms/{raw}/join"),
            (alice, "GET", f"/api/users/{raw}"),
            (alice, "GET", f"/api/messages/{raw}/thread"),
            (alice, "GET", f"/api/uploads/{raw}/thumb"),
            (alice, "DELETE", f"/api/sessions/{raw}"),
            (admin, "DELETE", f"/api/admin/invites/{raw}"),
            (admin, "POST", f"/api/admin/users/{raw}/reset"),
        ):
            status, payload = await client.call(method, url)
            check_envelope(status, payload, 404, "not_found")


async def test_non_ascii_digits_in_query_integers_are_bad_requests(
    admin: Client, make_user: UserFactory
) -> None:
    alice = await make_user("query")
    room = await new_room(alice)
    for digits in NOT_ASCII_DIGITS:
        for client, url in (
            (alice, f"/api/rooms/{room['id']}/messages?limit={path(digits)}"),
            (alice, f"/api/rooms/{room['id']}/messages?before={path(digits)}"),
            (alice, f"/api/search?q=x&room={path(digits)}"),
            (admin, f"/api/admin/logs?limit={path(digits)}"),
        ):
            status, payload = await client.call("GET", url)
            check_envelope(status, payload, 400, "bad_request")
    # Plain ASCII digits still work.
    found = await alice.get(f"/api/rooms/{room['id']}/messages?limit=10")
    assert found["messages"] == []


@pytest.mark.parametrize("charset", ["bogus", "rot13", "hex", "utf-99", "utf-8x", "x" * 300])
async def test_an_unknown_charset_is_a_bad_request(server: Server, charset: str) -> None:
    body = json.dumps({"username": "nobody", "password": "whatever-1"}).encode()
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            server.url + "/api/auth/login",
            data=body,
            headers={"Content-Type": f"application/json; charset={charset}"},
        ) as resp,
    ):
        check_envelope(resp.status, await resp.json(content_type=None), 400, "bad_request")


async def test_a_declared_utf8_charset_is_still_read(server: Server) -> None:
    body = json.dumps({"username": "admin", "password": "wrong-password-1"}).encode()
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            server.url + "/api/auth/login",
            data=body,
            headers={"Content-Type": "application/json; charset=UTF-8"},
        ) as resp,
    ):
        # Read and checked: a wrong password, not a body the server could not read.
        payload = await resp.json()
        assert resp.status == 401, payload


def multipart(boundary: str, parts: list[tuple[str, bytes]]) -> bytes:
    out = b""
    for disposition, content in parts:
        out += f"--{boundary}\r\n".encode()
        out += b"Content-Disposition: " + disposition.encode("utf-8", "surrogatepass") + b"\r\n"
        out += b"Content-Type: text/plain\r\n\r\n" + content + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


FILE = 'form-data; name="file"; filename="note.txt"'
GOOD = multipart("b0undary", [(FILE, b"hello")])


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/form-data", GOOD),  # no boundary at all
        ("multipart/form-data; boundary=", GOOD),
        ('multipart/form-data; boundary=""', GOOD),
        ("multipart/form-data; boundary=other", GOOD),  # not the one the body uses
        ("multipart/form-data; boundary=" + "b" * 200, GOOD),  # longer than RFC 2046 allows
        ("multipart/form-data; boundary=b0undary", b"not multipart at all"),
        ("multipart/form-data; boundary=b0undary", GOOD[:40]),  # cut short
        (
            "multipart/form-data; boundary=b0undary",
            multipart("b0undary", [('form-data; name="file"; filename="a\x00b.txt"', b"x")]),
        ),
        (
            "multipart/form-data; boundary=b0undary",
            multipart("b0undary", [('form-data; name="duration_ms"', "²".encode()), (FILE, b"x")]),
        ),
        (
            "multipart/form-data; boundary=b0undary",
            multipart("b0undary", [('form-data; name="duration_ms"', "١٢".encode()), (FILE, b"x")]),
        ),
    ],
)
async def test_broken_multipart_uploads_are_bad_requests(
    make_user: UserFactory, content_type: str, body: bytes
) -> None:
    alice = await make_user("multi")
    for url, method in (("/api/uploads", "POST"), ("/api/me/avatar", "PUT")):
        async with alice.http.request(
            method, alice.base_url + url, data=body, headers={"Content-Type": content_type}
        ) as resp:
            payload = await resp.json(content_type=None)
            check_envelope(resp.status, payload, 400, "bad_request")


async def test_nan_and_infinity_in_a_frame_are_refused_and_never_relayed(
    make_user: UserFactory,
) -> None:
    alice, bob = await make_user("nan"), await make_user("nanpeer")
    room = await new_room(alice, bob)
    a, b = await alice.connect(), await bob.connect()
    to = b.hello_reply["data"]["conn"]
    # 1e999 is valid JSON syntax, but Python would read it as Infinity.
    for constant in ("NaN", "Infinity", "-Infinity", "1e999", "[-1E+400]"):
        raw = (
            f'{{"type":"rtc.signal","req":"c","room":{room["id"]},"to":{to},'
            f'"data":{{"sdp":{constant}}}}}'
        )
        await a.ws.send_str(raw)
        # A frame that is not JSON at all is answered without its req (it could not be read).
        reply = await a.wait_for(lambda f: f.get("type") == "reply" and f.get("req") in (None, "c"))
        assert reply["ok"] is False and reply["error"]["code"] == "bad_request", reply
    await a.ok({"type": "rtc.signal", "room": room["id"], "to": to, "data": {"sdp": 1}})
    got = await b.wait_for(lambda f: f.get("type") == "rtc.signal")
    assert got["data"] == {"sdp": 1}  # the first signal Bob saw: nothing before it got through


@pytest.mark.parametrize("name", ["localhost", "local", "12345", "LOCALHOST"])
async def test_a_device_name_the_root_helper_refuses_is_a_bad_request(
    admin: Client, name: str
) -> None:
    before = (await admin.get("/api/admin/device"))["name"]

    status, payload = await admin.call("PATCH", "/api/admin/device", {"name": name})

    check_envelope(status, payload, 400, "bad_request")
    assert (await admin.get("/api/admin/device"))["name"] == before


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("PATCH", "/api/admin/users/1", {"no_such_field": 1}),
        ("PATCH", "/api/admin/users/1", {"admin": "yes"}),
        ("PATCH", "/api/admin/users/1", [1, 2]),
        ("PATCH", "/api/admin/settings", {"no_such_field": 1}),
        ("PATCH", "/api/admin/settings", {"org_name": 7}),
        ("POST", "/api/admin/users", {"username": 1}),
        ("POST", "/api/admin/invites", {"uses": -1}),
        ("PATCH", "/api/admin/device", {"name": 5}),
        ("PUT", "/api/admin/device/wifi", {}),
        ("POST", "/api/admin/device/ca", {"confirm": "no"}),
    ],
)
async def test_a_non_admin_gets_forbidden_whatever_the_body(
    make_user: UserFactory, method: str, url: str, body: object
) -> None:
    alice = await make_user("notadmin")

    status, payload = await alice.call(method, url, body)

    check_envelope(status, payload, 403, "forbidden")


# -- the plain-HTTP redirect -------------------------------------------------------------------


@pytest.fixture
async def redirect_url(tmp_path: Path) -> object:
    from aiohttp.test_utils import TestServer

    async def device_name() -> str:
        return "office"

    device = DeviceTls(tmp_path, device_name=device_name, addresses=list)
    await device.check()
    server = TestServer(build_redirect_app(device, https_port=8443), host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url(""))
    finally:
        await server.close()


@pytest.mark.parametrize(
    ("host", "location"),
    [
        ("evil.example.com", "https://office.local:8443/x?y=1"),
        ("evil.example.com:80", "https://office.local:8443/x?y=1"),
        ("office.local.evil.example", "https://office.local:8443/x?y=1"),
        ("8.8.8.8", "https://office.local:8443/x?y=1"),
        ("[2001:db8::1]", "https://office.local:8443/x?y=1"),
        ("localhost", "https://office.local:8443/x?y=1"),
        ("office.local", "https://office.local:8443/x?y=1"),
        ("OFFICE.LOCAL:80", "https://office.local:8443/x?y=1"),
        ("office", "https://office:8443/x?y=1"),
        ("127.0.0.1:8080", "https://127.0.0.1:8443/x?y=1"),
        ("[::1]", "https://[::1]:8443/x?y=1"),
    ],
)
async def test_the_http_redirect_goes_only_to_the_devices_own_names(
    redirect_url: str, host: str, location: str
) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.get(redirect_url + "/x?y=1", headers={"Host": host}, allow_redirects=False) as r,
    ):
        assert r.status == 301
        assert r.headers["Location"] == location, host
