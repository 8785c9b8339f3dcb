"""HTTP guards: other sites, wrong content types, oversized and malformed bodies.

Every refusal is the one error envelope, and nothing ever shows a stack trace.
"""

from __future__ import annotations

import json
import re
from typing import Any

import aiohttp
import pytest

from tests.client import Client
from tests.conftest import USER_PASSWORD, UserFactory
from tests.server import Server

FOREIGN_ORIGINS = [
    "http://evil.example",
    "https://evil.example",
    "null",
    "http://127.0.0.1:1",
]
REQUEST_BYTES = 1048576  # limits.request_bytes, the default the shared server runs with


async def raw(
    client: Client,
    method: str,
    path: str,
    *,
    data: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, str, str]:
    """A request sent exactly as given: (status, content type, body text)."""
    async with client.http.request(
        method, client.base_url + path, data=data, headers=headers or {}, allow_redirects=False
    ) as resp:
        return resp.status, resp.content_type, await resp.text()


def assert_envelope(status: int, content_type: str, text: str, expect: int, code: str) -> None:
    """Exactly `{"error": {"code", "message"}}` with this status and code, and no traceback."""
    assert status == expect, (status, text)
    assert content_type == "application/json", (content_type, text)
    assert "Traceback" not in text and 'File "' not in text
    body = json.loads(text)
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message"}, body
    assert body["error"]["code"] == code, body
    assert re.fullmatch(r"[a-z]+(_[a-z]+)*", body["error"]["code"])
    assert isinstance(body["error"]["message"], str) and body["error"]["message"].strip()


def own_origin(server: Server) -> str:
    return server.url  # http://127.0.0.1:PORT


# -- other sites ---------------------------------------------------------------------------


@pytest.mark.parametrize("origin", FOREIGN_ORIGINS)
async def test_state_changing_requests_from_another_site_are_forbidden(
    make_user: UserFactory, origin: str
) -> None:
    alice = await make_user("alice")
    original = alice.user["display_name"]
    json_ct = {"Content-Type": "application/json", "Origin": origin}

    refusals = [
        ("PATCH", "/api/me", {"display_name": "pwned"}),
        ("POST", "/api/rooms", {"kind": "channel", "name": "pwned-room"}),
        ("POST", "/api/auth/logout", {}),
        ("DELETE", "/api/sessions/1", None),
        ("POST", "/api/auth/login", {"username": "x", "password": "y"}),
    ]
    for method, path, body in refusals:
        data = None if body is None else json.dumps(body)
        status, ctype, text = await raw(alice, method, path, data=data, headers=json_ct)
        assert_envelope(status, ctype, text, 403, "forbidden")

    # Nothing changed: same name, still logged in, no room made.
    me = (await alice.get("/api/me"))["user"]
    assert me["display_name"] == original
    rooms = (await alice.get("/api/rooms"))["rooms"]
    assert all(r["name"] != "pwned-room" for r in rooms)


async def test_our_own_origin_and_no_origin_are_accepted(
    server: Server, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    status, _, text = await raw(
        alice,
        "PATCH",
        "/api/me",
        data=json.dumps({"status_text": "from the web app"}),
        headers={"Content-Type": "application/json", "Origin": own_origin(server)},
    )
    assert status == 200, text
    status, _, text = await raw(
        alice,
        "PATCH",
        "/api/me",
        data=json.dumps({"status_text": "from a script"}),
        headers={"Content-Type": "application/json"},
    )
    assert status == 200, text
    assert (await alice.get("/api/me"))["user"]["status_text"] == "from a script"


@pytest.mark.parametrize("origin", FOREIGN_ORIGINS)
async def test_a_websocket_from_another_site_is_refused(
    server: Server, make_user: UserFactory, origin: str
) -> None:
    alice = await make_user("alice")
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await alice.http.ws_connect(server.ws_url, headers={"Origin": origin})
    assert refused.value.status == 403
    # The same refusal, read as a plain request, is the error envelope.
    status, ctype, text = await raw(alice, "GET", "/api/ws", headers={"Origin": origin})
    assert_envelope(status, ctype, text, 403, "forbidden")
    # From our own page the socket opens.
    sock = await alice.connect(headers={"Origin": own_origin(server)})
    assert "head" in sock.hello_reply["data"]


async def test_a_websocket_without_a_session_is_unauthorized(server: Server) -> None:
    stranger = Client(server.url)
    try:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await stranger.http.ws_connect(server.ws_url)
        assert refused.value.status == 401
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await stranger.http.ws_connect(
                server.ws_url, headers={"Cookie": "pychat_session=made-up-token"}
            )
        assert refused.value.status == 401
        status, ctype, text = await raw(stranger, "GET", "/api/ws")
        assert_envelope(status, ctype, text, 401, "unauthorized")
    finally:
        await stranger.close()


# -- content type --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        None,
    ],
)
async def test_state_changing_requests_must_be_json(
    server: Server, make_user: UserFactory, content_type: str | None
) -> None:
    alice = await make_user("alice")
    headers = {} if content_type is None else {"Content-Type": content_type}
    body = json.dumps({"display_name": "not json"}).encode()
    status, ctype, text = await raw(alice, "PATCH", "/api/me", data=body, headers=headers)
    assert_envelope(status, ctype, text, 400, "bad_request")

    # A form post cannot log anyone in either (login CSRF).
    stranger = Client(server.url)
    try:
        login = json.dumps({"username": alice.user["username"], "password": USER_PASSWORD})
        status, ctype, text = await raw(
            stranger, "POST", "/api/auth/login", data=login.encode(), headers=headers
        )
        assert_envelope(status, ctype, text, 400, "bad_request")
        assert not any(c.key == "pychat_session" for c in stranger.http.cookie_jar)
    finally:
        await stranger.close()
    assert (await alice.get("/api/me"))["user"]["display_name"] != "not json"


async def test_json_with_a_charset_is_json(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    status, _, text = await raw(
        alice,
        "PATCH",
        "/api/me",
        data=json.dumps({"status_text": "charset"}).encode(),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert status == 200, text


# -- size ----------------------------------------------------------------------------------


async def test_a_body_over_the_request_limit_is_too_large(
    server: Server, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    huge = json.dumps({"status_text": "x" * (REQUEST_BYTES + 1024)}).encode()
    status, ctype, text = await raw(
        alice, "PATCH", "/api/me", data=huge, headers={"Content-Type": "application/json"}
    )
    assert_envelope(status, ctype, text, 413, "too_large")
    stranger = Client(server.url)
    try:
        status, ctype, text = await raw(
            stranger,
            "POST",
            "/api/auth/login",
            data=b'{"username": "' + b"a" * (REQUEST_BYTES + 10) + b'"}',
            headers={"Content-Type": "application/json"},
        )
        assert_envelope(status, ctype, text, 413, "too_large")
    finally:
        await stranger.close()
    # The server carries on.
    assert (await alice.get("/api/me"))["user"]["id"] == alice.id


# -- not found and wrong methods -----------------------------------------------------------


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/api/nothing-here"),
        ("GET", "/api/rooms/1/nothing"),
        ("POST", "/api/nothing-here"),
        ("GET", "/api/users/0"),
        ("GET", "/api/users/abc"),
        ("GET", "/api/users/99999999999999999999999"),
        ("DELETE", "/api/sessions/-1"),
    ],
)
async def test_unknown_api_routes_are_not_found(
    make_user: UserFactory, method: str, path: str
) -> None:
    alice = await make_user("alice")
    headers = {"Content-Type": "application/json"} if method != "GET" else {}
    data = b"{}" if method != "GET" else None
    status, ctype, text = await raw(alice, method, path, data=data, headers=headers)
    assert_envelope(status, ctype, text, 404, "not_found")


async def test_a_wrong_method_is_an_error_envelope(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    status, ctype, text = await raw(
        alice, "PUT", "/api/me", data=b"{}", headers={"Content-Type": "application/json"}
    )
    assert status == 405
    body = json.loads(text)
    assert ctype == "application/json" and set(body) == {"error"}
    assert set(body["error"]) == {"code", "message"}


# -- malformed bodies ----------------------------------------------------------------------

MALFORMED = {
    "not json": b"{display_name: 1",
    "truncated": b'{"display_name": "abc',
    "empty": b"",
    "not an object": b'["display_name"]',
    "a bare string": b'"hello"',
    "null": b"null",
    "invalid utf-8": b'{"display_name": "\xff\xfe"}',
    "wrong type": b'{"display_name": 42}',
    "unknown field": b'{"shoe_size": 42}',
    "NaN": b'{"display_name": NaN}',
    "deeply nested": b"[" * 100_000 + b"]" * 100_000,
    "a huge number": b'{"avatar": ' + b"9" * 5000 + b"}",
}


@pytest.mark.parametrize("body", list(MALFORMED.values()), ids=list(MALFORMED))
async def test_malformed_bodies_are_bad_requests(make_user: UserFactory, body: bytes) -> None:
    alice = await make_user("alice")
    before = (await alice.get("/api/me"))["user"]
    status, ctype, text = await raw(
        alice, "PATCH", "/api/me", data=body, headers={"Content-Type": "application/json"}
    )
    if body == b"":
        # An empty body is an empty change; that is fine too, but never an error page.
        assert status in (200, 400), text
        if status == 400:
            assert_envelope(status, ctype, text, 400, "bad_request")
    else:
        assert_envelope(status, ctype, text, 400, "bad_request")
    assert (await alice.get("/api/me"))["user"]["display_name"] == before["display_name"]


@pytest.mark.parametrize("body", list(MALFORMED.values()), ids=list(MALFORMED))
async def test_malformed_logins_are_bad_requests(server: Server, body: bytes) -> None:
    stranger = Client(server.url)
    try:
        status, ctype, text = await raw(
            stranger,
            "POST",
            "/api/auth/login",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        assert_envelope(status, ctype, text, 400, "bad_request")
    finally:
        await stranger.close()


# -- no stack traces anywhere --------------------------------------------------------------


async def test_no_response_shows_a_stack_trace(server: Server, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    stranger = Client(server.url)
    attempts: list[tuple[Client, str, str, bytes | None, dict[str, str]]] = []
    json_ct = {"Content-Type": "application/json"}
    for path in ("/api/me", "/api/rooms", "/api/auth/login", "/api/admin/users", "/api/ws"):
        for method in ("GET", "POST", "PATCH", "DELETE"):
            for body in (None, b"{", b"[]", b'{"x": 1}', b"\x00\x01"):
                for who in (alice, stranger):
                    attempts.append((who, method, path, body, json_ct))
    attempts.append((alice, "GET", "/api/rooms/1/messages?limit=abc", None, {}))
    attempts.append((alice, "GET", "/api/rooms/1/messages?before=-5", None, {}))
    attempts.append((alice, "GET", "/api/search?q=" + "%" * 10, None, {}))
    attempts.append((alice, "GET", "/api/users/1%00", None, {}))
    try:
        for who, method, path, body, headers in attempts:
            status, ctype, text = await raw(who, method, path, data=body, headers=headers)
            assert status < 500, (method, path, body, status, text)
            assert "Traceback" not in text and 'File "' not in text, (method, path, text)
            if status >= 400 and path.startswith("/api/"):
                assert_envelope(status, ctype, text, status, json.loads(text)["error"]["code"])
    finally:
        await stranger.close()
