"""Accounts over the real server: login, sessions, profile, registration, admin, throttling."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.client import WAIT, Client, Socket
from tests.conftest import USER_PASSWORD, UserFactory
from tests.server import ADMIN_PASSWORD, Server

COOKIE = "pychat_session"
USER_KEYS = {"id", "username", "display_name", "admin", "avatar_url", "status_text", "online"}

ClientFactory = Callable[[], Client]


# -- helpers -------------------------------------------------------------------------------


def assert_error(reply: tuple[int, Any], status: int, code: str) -> str:
    """The reply is exactly the error envelope with this status and code; its message."""
    got_status, payload = reply
    assert got_status == status, reply
    assert isinstance(payload, dict) and set(payload) == {"error"}, payload
    assert set(payload["error"]) == {"code", "message"}, payload
    assert payload["error"]["code"] == code, payload
    message = payload["error"]["message"]
    assert isinstance(message, str) and message and "Traceback" not in message
    return message


def session_token(client: Client) -> str:
    for cookie in client.http.cookie_jar:
        if cookie.key == COOKIE:
            return cookie.value
    raise AssertionError("no session cookie")


async def status_with_token(base_url: str, token: str, path: str = "/api/me") -> int:
    """GET `path` presenting a session token by hand, outside any cookie jar."""
    async with (
        aiohttp.ClientSession() as http,
        http.get(base_url + path, headers={"Cookie": f"{COOKIE}={token}"}) as resp,
    ):
        return resp.status


async def ws_status_with_token(ws_url: str, token: str) -> int:
    """The handshake status of a WebSocket opened with this session token (101: accepted)."""
    async with aiohttp.ClientSession() as http:
        try:
            ws = await http.ws_connect(ws_url, headers={"Cookie": f"{COOKIE}={token}"})
        except aiohttp.WSServerHandshakeError as e:
            return e.status
        await ws.close()
        return 101


async def raw_login(
    base_url: str, username: str, password: str, *, local_addr: str | None = None
) -> tuple[int, Any, Any]:
    """One login attempt from a fresh connection (optionally from another loopback address)."""
    connector = aiohttp.TCPConnector(local_addr=(local_addr, 0) if local_addr else None)
    async with (
        aiohttp.ClientSession(connector=connector) as http,
        http.post(
            base_url + "/api/auth/login",
            json={"username": username, "password": password},
        ) as resp,
    ):
        payload = await resp.json() if resp.content_type == "application/json" else None
        return resp.status, payload, resp.headers


async def wait_closed(sock: Socket) -> None:
    await asyncio.wait_for(sock.closed.wait(), WAIT)


async def still_open(sock: Socket) -> None:
    """A ping round trip: the socket is alive and answering."""
    assert await sock.ok({"type": "ping"}) == {}
    assert not sock.closed.is_set()


def new_name(prefix: str = "u") -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def clients(server: Server) -> AsyncIterator[ClientFactory]:
    """Extra, not yet logged-in clients of the shared server, closed at the end."""
    made: list[Client] = []

    def make() -> Client:
        client = Client(server.url)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


async def create_user(admin: Client, username: str, **extra: Any) -> dict[str, Any]:
    payload = await admin.post(
        "/api/admin/users", {"username": username, "password": USER_PASSWORD, **extra}, expect=201
    )
    return payload["user"]  # type: ignore[no-any-return]


# -- login and logout ----------------------------------------------------------------------


async def test_login_sets_a_http_only_lax_session_cookie(
    server: Server, admin: Client, clients: ClientFactory
) -> None:
    name = new_name("login")
    await create_user(admin, name, display_name="Login Tester")
    client = clients()
    async with client.http.post(
        server.url + "/api/auth/login", json={"username": name, "password": USER_PASSWORD}
    ) as resp:
        assert resp.status == 200
        body = await resp.json()
        set_cookies = resp.headers.getall("Set-Cookie")
    user = body["user"]
    assert set(user) >= USER_KEYS
    assert "password_hash" not in user
    assert user["username"] == name and user["display_name"] == "Login Tester"
    assert user["admin"] is False

    ours = [c for c in set_cookies if c.startswith(f"{COOKIE}=")]
    assert len(ours) == 1, set_cookies
    attributes = [a.strip().lower() for a in ours[0].split(";")]
    assert "httponly" in attributes
    assert "samesite=lax" in attributes
    assert "path=/" in attributes

    me = await client.get("/api/me")
    assert me["user"]["id"] == user["id"]


async def test_wrong_password_and_unknown_user_get_the_same_401(
    server: Server, admin: Client, clients: ClientFactory
) -> None:
    name = new_name("wrong")
    await create_user(admin, name)
    client = clients()
    wrong = await client.call(
        "POST", "/api/auth/login", {"username": name, "password": "not-the-password"}
    )
    unknown = await client.call(
        "POST", "/api/auth/login", {"username": new_name("nobody"), "password": USER_PASSWORD}
    )
    # The same answer either way: the reply does not tell which usernames exist.
    assert assert_error(wrong, 401, "unauthorized") == assert_error(unknown, 401, "unauthorized")
    assert not any(c.key == COOKIE for c in client.http.cookie_jar)
    assert_error(await client.call("GET", "/api/me"), 401, "unauthorized")


async def test_logout_ends_the_session_and_closes_its_socket(
    server: Server, make_user: UserFactory, clients: ClientFactory
) -> None:
    alice = await make_user("alice")
    other_tab = await clients().login(alice.user["username"], USER_PASSWORD)
    token = session_token(alice)
    sock = await alice.connect()
    other_sock = await other_tab.connect()

    status, _ = await alice.call("POST", "/api/auth/logout")
    assert status == 204

    await wait_closed(sock)
    assert await status_with_token(server.url, token) == 401
    assert await ws_status_with_token(server.ws_url, token) == 401
    # Only that one session ended: the other tab goes on.
    await still_open(other_sock)
    assert (await other_tab.get("/api/me"))["user"]["id"] == alice.id


async def test_logout_without_a_session_is_unauthorized(clients: ClientFactory) -> None:
    assert_error(await clients().call("POST", "/api/auth/logout"), 401, "unauthorized")


# -- profile -------------------------------------------------------------------------------


async def test_me_shows_and_changes_the_profile_and_others_see_it(
    make_user: UserFactory,
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    bob_sock = await bob.connect()

    me = (await alice.get("/api/me"))["user"]
    assert me["id"] == alice.id and me["username"] == alice.user["username"]
    assert set(me) >= USER_KEYS and "password_hash" not in me

    status, payload = await alice.call(
        "PATCH", "/api/me", {"display_name": "Alice Liddell", "status_text": "in a meeting"}
    )
    assert status == 200, payload
    assert payload["user"]["display_name"] == "Alice Liddell"
    assert payload["user"]["status_text"] == "in a meeting"
    again = (await alice.get("/api/me"))["user"]
    assert again["display_name"] == "Alice Liddell" and again["status_text"] == "in a meeting"
    seen_by_bob = (await bob.get(f"/api/users/{alice.id}"))["user"]
    assert seen_by_bob["display_name"] == "Alice Liddell"

    event = await bob_sock.wait_for(
        lambda f: (
            f.get("type") == "event"
            and f.get("kind") == "user.update"
            and f["data"]["user"]["id"] == alice.id
        )
    )
    assert event["room"] is None
    assert event["data"]["user"]["display_name"] == "Alice Liddell"
    assert event["data"]["user"]["status_text"] == "in a meeting"
    assert "password_hash" not in event["data"]["user"]


async def test_profile_rejects_bad_values(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    assert_error(await alice.call("PATCH", "/api/me", {"display_name": 5}), 400, "bad_request")
    assert_error(
        await alice.call("PATCH", "/api/me", {"status_text": "x" * 400}), 400, "bad_request"
    )
    assert_error(await alice.call("PATCH", "/api/me", {"admin": True}), 400, "bad_request")
    me = (await alice.get("/api/me"))["user"]
    assert me["admin"] is False and me["display_name"] == alice.user["display_name"]


async def test_password_change_needs_the_right_old_password(
    server: Server, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    name = alice.user["username"]
    new_password = "a-brand-new-password"

    for body in (
        {"password": new_password},
        {"password": new_password, "old_password": "not-my-password"},
    ):
        status, payload = await alice.call("PATCH", "/api/me", body)
        assert status in (400, 403), payload  # never 401: that would read as "logged out"
        assert_error((status, payload), status, payload["error"]["code"])

    # Nothing changed: the old password still works, the new one does not.
    assert (await raw_login(server.url, name, USER_PASSWORD))[0] == 200
    assert (await raw_login(server.url, name, new_password))[0] == 401
    # Neither are too short passwords taken.
    status, payload = await alice.call(
        "PATCH", "/api/me", {"password": "short", "old_password": USER_PASSWORD}
    )
    assert_error((status, payload), 400, "bad_request")


async def test_password_change_ends_every_other_session(
    server: Server, make_user: UserFactory, clients: ClientFactory
) -> None:
    alice = await make_user("alice")
    name = alice.user["username"]
    laptop = await clients().login(name, USER_PASSWORD)
    laptop_token = session_token(laptop)
    laptop_sock = await laptop.connect()
    here_sock = await alice.connect()
    new_password = "a-brand-new-password"

    status, payload = await alice.call(
        "PATCH", "/api/me", {"password": new_password, "old_password": USER_PASSWORD}
    )
    assert status == 200, payload

    await wait_closed(laptop_sock)
    assert await status_with_token(server.url, laptop_token) == 401
    # The session that changed the password carries on.
    assert (await alice.get("/api/me"))["user"]["id"] == alice.id
    await still_open(here_sock)
    assert (await raw_login(server.url, name, USER_PASSWORD))[0] == 401
    assert (await raw_login(server.url, name, new_password))[0] == 200


# -- sessions ------------------------------------------------------------------------------


async def test_sessions_are_listed_and_another_one_can_be_revoked(
    server: Server, make_user: UserFactory, clients: ClientFactory
) -> None:
    alice = await make_user("alice")
    phone = await clients().login(alice.user["username"], USER_PASSWORD)
    phone_sock = await phone.connect()
    here_sock = await alice.connect()

    listed = (await alice.get("/api/sessions"))["sessions"]
    assert len(listed) == 2
    assert [s["current"] for s in listed].count(True) == 1
    for s in listed:
        assert {"id", "created_at", "last_used_at", "expires_at", "current"} <= set(s)
        assert "token" not in s and "token_hash" not in s
    mine = next(s for s in listed if s["current"])
    other = next(s for s in listed if not s["current"])
    phone_view = (await phone.get("/api/sessions"))["sessions"]
    assert next(s for s in phone_view if s["current"])["id"] == other["id"]

    status, _ = await alice.call("DELETE", f"/api/sessions/{other['id']}")
    assert status == 204
    await wait_closed(phone_sock)
    assert_error(await phone.call("GET", "/api/me"), 401, "unauthorized")
    await still_open(here_sock)
    after = (await alice.get("/api/sessions"))["sessions"]
    assert [s["id"] for s in after] == [mine["id"]]

    assert_error(await alice.call("DELETE", f"/api/sessions/{other['id']}"), 404, "not_found")


async def test_nobody_can_revoke_someone_elses_session(make_user: UserFactory) -> None:
    alice, mallory = await make_user("alice"), await make_user("mallory")
    alice_sock = await alice.connect()
    alice_session = (await alice.get("/api/sessions"))["sessions"][0]["id"]

    reply = await mallory.call("DELETE", f"/api/sessions/{alice_session}")
    assert_error(reply, 404, "not_found")

    assert (await alice.get("/api/me"))["user"]["id"] == alice.id
    await still_open(alice_sock)


# -- throttling ----------------------------------------------------------------------------


async def test_failed_logins_are_throttled_per_username_and_per_address(
    make_server: Callable[..., Server],
) -> None:
    srv = make_server(
        {"PYCHAT_AUTH_LOGIN_FAILURES_PER_USER": "3", "PYCHAT_AUTH_LOGIN_FAILURES_PER_IP": "5"}
    )
    admin = Client(srv.url)
    try:
        await admin.login("admin", ADMIN_PASSWORD)
        carol, dave, erin = new_name("carol"), new_name("dave"), new_name("erin")
        for name in (carol, dave, erin):
            await create_user(admin, name)
    finally:
        await admin.close()

    for _ in range(3):
        status, payload, _ = await raw_login(srv.url, carol, "wrong-password")
        assert_error((status, payload), 401, "unauthorized")
    # Carol's username is now blocked, even with the right password.
    status, payload, headers = await raw_login(srv.url, carol, USER_PASSWORD)
    assert_error((status, payload), 429, "rate_limited")
    assert 1 <= int(headers["Retry-After"]) <= 900
    # ...and from any address: guessing from many machines does not help.
    status, payload, _ = await raw_login(srv.url, carol, USER_PASSWORD, local_addr="127.0.0.2")
    assert_error((status, payload), 429, "rate_limited")

    # Another username from the same address still works until the address's limit.
    assert (await raw_login(srv.url, dave, USER_PASSWORD))[0] == 200
    for _ in range(2):
        status, payload, _ = await raw_login(srv.url, dave, "wrong-password")
        assert_error((status, payload), 401, "unauthorized")
    # Five failures from 127.0.0.1: every login from it waits now, right password or not.
    status, payload, headers = await raw_login(srv.url, erin, USER_PASSWORD)
    assert_error((status, payload), 429, "rate_limited")
    assert 1 <= int(headers["Retry-After"]) <= 900
    status, payload, _ = await raw_login(srv.url, "admin", ADMIN_PASSWORD)
    assert_error((status, payload), 429, "rate_limited")
    # Another address is not blocked by this one's failures.
    assert (await raw_login(srv.url, erin, USER_PASSWORD, local_addr="127.0.0.2"))[0] == 200


# -- registration --------------------------------------------------------------------------


async def register(client: Client, username: str, invite: str | None = None) -> tuple[int, Any]:
    body: dict[str, Any] = {"username": username, "password": USER_PASSWORD}
    if invite is not None:
        body["invite"] = invite
    return await client.call("POST", "/api/auth/register", body)


async def make_invite(admin: Client, **body: Any) -> str:
    payload = await admin.post("/api/admin/invites", body, expect=201)
    assert payload["code"] in payload["url"]
    return payload["code"]  # type: ignore[no-any-return]


async def test_registration_needs_a_valid_invite_by_default(
    admin: Client, clients: ClientFactory
) -> None:
    client = clients()
    assert_error(await register(client, new_name("noinv")), 403, "forbidden")
    assert_error(await register(client, new_name("badinv"), "not-a-real-code"), 403, "forbidden")
    assert not any(c.key == COOKIE for c in client.http.cookie_jar)


async def test_an_invite_code_registers_once(
    admin: Client, clients: ClientFactory, make_user: UserFactory
) -> None:
    watcher = await make_user("watch")
    watch_sock = await watcher.connect()
    code = await make_invite(admin)
    name = new_name("newbie")
    client = clients()

    status, payload = await register(client, name, code)
    assert status == 201, payload
    user = payload["user"]
    assert user["username"] == name and user["admin"] is False
    assert (await client.get("/api/me"))["user"]["id"] == user["id"]
    event = await watch_sock.wait_for(
        lambda f: f.get("kind") == "user.new" and f["data"]["user"]["id"] == user["id"]
    )
    assert event["data"]["user"]["username"] == name

    assert_error(await register(clients(), new_name("second"), code), 403, "forbidden")


async def test_a_failed_registration_does_not_use_up_the_invite(
    admin: Client, clients: ClientFactory
) -> None:
    code = await make_invite(admin)
    taken = new_name("taken")
    await create_user(admin, taken)
    assert_error(await register(clients(), taken.upper(), code), 409, "conflict")
    assert_error(await register(clients(), "bad name!", code), 400, "bad_request")
    status, payload = await register(clients(), new_name("after"), code)
    assert status == 201, payload


async def test_an_invite_with_several_uses_works_that_many_times(
    admin: Client, clients: ClientFactory
) -> None:
    code = await make_invite(admin, uses=2)
    for _ in range(2):
        status, payload = await register(clients(), new_name("multi"), code)
        assert status == 201, payload
    assert_error(await register(clients(), new_name("multi"), code), 403, "forbidden")


def _expire_invite(db_path: Path, code: str) -> None:
    # The server offers no way to travel in time, so the invite's expiry is moved into the
    # past in its (real) database, as if its week had passed.
    with sqlite3.connect(db_path, timeout=10) as db:
        cur = db.execute(
            "UPDATE invites SET expires_at = 1 WHERE code_hash = ?",
            (hashlib.sha256(code.encode()).digest(),),
        )
        assert cur.rowcount == 1
    db.close()


async def test_an_expired_invite_is_refused(
    server: Server, admin: Client, clients: ClientFactory
) -> None:
    code = await make_invite(admin, uses=5, expires_in_s=3600)
    await asyncio.to_thread(_expire_invite, server.data / "pychat.db", code)
    assert_error(await register(clients(), new_name("late"), code), 403, "forbidden")
    assert_error(
        await admin.call("POST", "/api/admin/invites", {"expires_in_s": 0}), 400, "bad_request"
    )


# -- admin ---------------------------------------------------------------------------------


async def test_admin_routes_refuse_non_admins(make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    assert_error(
        await alice.call(
            "POST", "/api/admin/users", {"username": new_name("x"), "password": USER_PASSWORD}
        ),
        403,
        "forbidden",
    )
    assert_error(await alice.call("POST", "/api/admin/invites", {}), 403, "forbidden")
    assert_error(
        await alice.call("PATCH", f"/api/admin/users/{bob.id}", {"deactivated": True}),
        403,
        "forbidden",
    )
    assert_error(
        await alice.call("PATCH", f"/api/admin/users/{alice.id}", {"admin": True}),
        403,
        "forbidden",
    )
    assert (await alice.get("/api/me"))["user"]["admin"] is False
    assert (await bob.get("/api/me"))["user"]["id"] == bob.id


async def test_admin_made_users_are_announced_to_everyone(
    admin: Client, make_user: UserFactory
) -> None:
    bob = await make_user("bob")
    sock = await bob.connect()
    name = new_name("hire")
    user = await create_user(admin, name, display_name="New Hire")
    event = await sock.wait_for(
        lambda f: f.get("kind") == "user.new" and f["data"]["user"]["id"] == user["id"]
    )
    assert event["data"]["user"]["display_name"] == "New Hire"
    assert "password_hash" not in event["data"]["user"]


async def test_a_deactivated_user_is_locked_out_at_once(
    server: Server, admin: Client, make_user: UserFactory, clients: ClientFactory
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    name = alice.user["username"]
    token = session_token(alice)
    alice_sock = await alice.connect()
    bob_sock = await bob.connect()

    status, payload = await admin.call(
        "PATCH", f"/api/admin/users/{alice.id}", {"deactivated": True}
    )
    assert status == 200, payload

    await wait_closed(alice_sock)
    assert await status_with_token(server.url, token) == 401
    assert_error(
        await clients().call(
            "POST", "/api/auth/login", {"username": name, "password": USER_PASSWORD}
        ),
        401,
        "unauthorized",
    )
    await bob_sock.wait_for(
        lambda f: f.get("kind") == "user.update" and f["data"]["user"]["id"] == alice.id
    )
    await still_open(bob_sock)

    # Reactivated, Alice may log in again (her old sessions stay ended).
    status, payload = await admin.call(
        "PATCH", f"/api/admin/users/{alice.id}", {"deactivated": False}
    )
    assert status == 200, payload
    assert await status_with_token(server.url, token) == 401
    assert (await raw_login(server.url, name, USER_PASSWORD))[0] == 200


async def test_an_admin_cannot_lock_themselves_out(admin: Client) -> None:
    assert_error(
        await admin.call("PATCH", f"/api/admin/users/{admin.id}", {"deactivated": True}),
        409,
        "conflict",
    )
    assert (await admin.get("/api/me"))["user"]["admin"] is True


# -- usernames -----------------------------------------------------------------------------


async def test_usernames_are_case_insensitive(
    server: Server, admin: Client, clients: ClientFactory
) -> None:
    name = new_name("case")
    created = await create_user(admin, name.capitalize())
    assert created["username"] == name

    client = await clients().login(name.upper(), USER_PASSWORD)
    assert client.user["id"] == created["id"] and client.user["username"] == name

    for clash in (name.upper(), name.capitalize()):
        reply = await admin.call(
            "POST", "/api/admin/users", {"username": clash, "password": USER_PASSWORD}
        )
        assert_error(reply, 409, "conflict")


@pytest.mark.parametrize(
    "username", ["a", "x" * 33, "bad name", "bad!", "ålice", "tab\tname", "", "semi;colon"]
)
async def test_bad_usernames_are_refused(admin: Client, username: str) -> None:
    reply = await admin.call(
        "POST", "/api/admin/users", {"username": username, "password": USER_PASSWORD}
    )
    assert_error(reply, 400, "bad_request")
