"""The admin area over the real server: who may use it, people, reset links, invites,
storage, logs and version."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from appliance.app import build_app
from appliance.config import Settings
from tests.client import Client
from tests.conftest import USER_PASSWORD, UserFactory
from tests.server import Server
from tests.waiting import wait_until

NEW_PASSWORD = "a-brand-new-password"
UPLOADS = {("POST", "/api/admin/restore"), ("POST", "/api/admin/device/certificate")}


def admin_routes(tmp_path: Path) -> list[tuple[str, str]]:
    """Every (method, path) under /api/admin/ that the app serves, from its own router."""
    app = build_app(Settings(data_dir=tmp_path))
    found = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter") or ""
        if route.method != "HEAD" and path.startswith("/api/admin/"):
            found.add((route.method, path))
    return sorted(found)


def assert_error(reply: tuple[int, Any], status: int, code: str) -> None:
    got, payload = reply
    assert got == status, reply
    assert isinstance(payload, dict) and set(payload) == {"error"}, payload
    assert payload["error"]["code"] == code, payload
    assert payload["error"]["message"] and "Traceback" not in payload["error"]["message"]


def reset_token(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


# -- every admin route is refused to non-admins ----------------------------------------------


async def test_every_admin_route_refuses_anonymous_and_non_admins(
    server: Server, make_user: UserFactory, tmp_path: Path
) -> None:
    routes = admin_routes(tmp_path)
    # The admin area's routes are all there (the list grows; it never silently shrinks).
    assert {
        ("GET", "/api/admin/users"),
        ("PATCH", "/api/admin/users/{id}"),
        ("POST", "/api/admin/users/{id}/reset"),
        ("GET", "/api/admin/invites"),
        ("DELETE", "/api/admin/invites/{id}"),
        ("GET", "/api/admin/device"),
        ("POST", "/api/admin/device/certificate"),
        ("POST", "/api/admin/device/ca"),
        ("GET", "/api/admin/storage"),
        ("GET", "/api/admin/backup"),
        ("POST", "/api/admin/restore"),
        ("GET", "/api/admin/logs"),
        ("GET", "/api/admin/version"),
    } <= set(routes)
    user = await make_user("plain")
    anonymous = Client(server.url)
    try:
        for method, template in routes:
            path = re.sub(r"\{[^}]+\}", "1", template)
            body = {} if method in ("POST", "PATCH", "DELETE") else None
            assert_error(await anonymous.call(method, path, body), 401, "unauthorized")
            assert_error(await user.call(method, path, body), 403, "forbidden")
            # Not even an upload gets further than the check.
            if (method, path) in UPLOADS:
                form = aiohttp.FormData()
                form.add_field("backup", b"x" * 1000, filename="b.tar.gz")
                async with user.http.post(server.url + path + "?dry_run=1", data=form) as r:
                    assert r.status == 403, (method, path, await r.text())
    finally:
        await anonymous.close()


async def test_a_deactivated_admin_is_refused_at_once(
    admin: Client, make_user: UserFactory
) -> None:
    other = await make_user("adm")
    await admin.call("PATCH", f"/api/admin/users/{other.id}", {"admin": True})
    assert (await other.call("GET", "/api/admin/users"))[0] == 200
    await admin.call("PATCH", f"/api/admin/users/{other.id}", {"admin": False})
    assert_error(await other.call("GET", "/api/admin/users"), 403, "forbidden")


# -- people -----------------------------------------------------------------------------------


async def test_the_user_list_shows_flags_and_last_seen(
    admin: Client, make_user: UserFactory
) -> None:
    user = await make_user("seen")
    sock = await user.connect()
    await sock.close()

    # The server records last_seen when the last socket closes.
    async def seen() -> tuple[list[dict[str, Any]], dict[str, Any]] | None:
        listing = (await admin.get("/api/admin/users"))["users"]
        row = next(u for u in listing if u["id"] == user.id)
        return (listing, row) if row["last_seen"] is not None else None

    listing, row = await wait_until(seen, what="the user list shows when they were last seen")
    assert row["created_at"] > 0
    assert row["admin"] is False and row["deactivated"] is False
    me = next(u for u in listing if u["username"] == "admin")
    assert me["admin"] is True


async def test_deactivate_reactivate_promote_demote(
    server: Server, admin: Client, make_user: UserFactory
) -> None:
    user = await make_user("flags")
    path = f"/api/admin/users/{user.id}"
    status, body = await admin.call("PATCH", path, {"deactivated": True})
    assert status == 200 and body["user"]["deactivated"] is True
    assert_error(await user.call("GET", "/api/me"), 401, "unauthorized")
    again = Client(server.url)
    try:
        login = {"username": user.user["username"], "password": USER_PASSWORD}
        status, _ = await again.call("POST", "/api/auth/login", login)
        assert status == 401
        status, body = await admin.call("PATCH", path, {"deactivated": False})
        assert status == 200 and body["user"]["deactivated"] is False
        await again.login(user.user["username"], USER_PASSWORD)
        assert_error(await again.call("GET", "/api/admin/users"), 403, "forbidden")
        status, body = await admin.call("PATCH", path, {"admin": True})
        assert status == 200 and body["user"]["admin"] is True
        assert (await again.call("GET", "/api/admin/users"))[0] == 200
        status, body = await admin.call("PATCH", path, {"admin": False})
        assert body["user"]["admin"] is False
        assert_error(await again.call("GET", "/api/admin/storage"), 403, "forbidden")
    finally:
        await again.close()
    # Nobody demotes or deactivates themselves.
    me = f"/api/admin/users/{admin.id}"
    assert_error(await admin.call("PATCH", me, {"admin": False}), 409, "conflict")
    assert_error(await admin.call("PATCH", me, {"deactivated": True}), 409, "conflict")


async def test_a_reset_link_works_once_and_ends_every_session(
    server: Server, admin: Client, make_user: UserFactory
) -> None:
    user = await make_user("reset")
    sock = await user.connect()
    status, made = await admin.call("POST", f"/api/admin/users/{user.id}/reset")
    assert status == 201, made
    assert made["url"].startswith(f"{server.url}/reset?token=")
    token = reset_token(made["url"])
    assert made["expires_at"] > 0

    visitor = Client(server.url)
    try:
        # A password that breaks the rules leaves the link usable.
        short = {"token": token, "password": "short"}
        assert_error(await visitor.call("POST", "/api/auth/reset", short), 400, "bad_request")
        good = {"token": token, "password": NEW_PASSWORD}
        assert (await visitor.call("POST", "/api/auth/reset", good))[0] == 204
        # Once only.
        assert_error(await visitor.call("POST", "/api/auth/reset", good), 403, "forbidden")
        wrong = {"token": token[:-2] + "xx", "password": NEW_PASSWORD}
        assert_error(await visitor.call("POST", "/api/auth/reset", wrong), 403, "forbidden")
        # Every session and socket of the account ended; the new password works.
        await asyncio.wait_for(sock.closed.wait(), 10)
        assert sock.close_code == 4001
        assert_error(await user.call("GET", "/api/me"), 401, "unauthorized")
        name = user.user["username"]
        old = {"username": name, "password": USER_PASSWORD}
        assert (await visitor.call("POST", "/api/auth/login", old))[0] == 401
        await visitor.login(name, NEW_PASSWORD)
    finally:
        await visitor.close()


async def test_a_new_reset_link_replaces_the_old_and_tokens_are_stored_hashed(
    server: Server, admin: Client, make_user: UserFactory
) -> None:
    user = await make_user("twice")
    first = reset_token((await admin.post(f"/api/admin/users/{user.id}/reset", expect=201))["url"])
    second = reset_token((await admin.post(f"/api/admin/users/{user.id}/reset", expect=201))["url"])
    assert first != second
    db = sqlite3.connect(f"file:{server.data / 'pychat.db'}?mode=ro", uri=True)
    try:
        stored = [bytes(r[0]) for r in db.execute("SELECT token_hash FROM password_resets")]
    finally:
        db.close()
    assert all(first.encode() not in h and second.encode() not in h for h in stored)
    visitor = Client(server.url)
    try:
        body = {"token": first, "password": NEW_PASSWORD}
        assert_error(await visitor.call("POST", "/api/auth/reset", body), 403, "forbidden")
        body["token"] = second
        assert (await visitor.call("POST", "/api/auth/reset", body))[0] == 204
    finally:
        await visitor.close()
    # No reset link for a deactivated account, nor for nobody.
    await admin.call("PATCH", f"/api/admin/users/{user.id}", {"deactivated": True})
    status, _ = await admin.call("POST", f"/api/admin/users/{user.id}/reset")
    assert status == 409
    assert (await admin.call("POST", "/api/admin/users/999999/reset"))[0] == 404


# -- invites ----------------------------------------------------------------------------------


async def test_invites_are_listed_without_codes_and_can_be_revoked(
    server: Server, admin: Client
) -> None:
    made = await admin.post("/api/admin/invites", {"uses": 3}, expect=201)
    listing = (await admin.get("/api/admin/invites"))["invites"]
    assert made["code"] not in str(listing)
    newest = listing[0]
    assert set(newest) == {"id", "created_by", "created_at", "expires_at", "uses_left", "state"}
    assert newest["uses_left"] == 3 and newest["state"] == "active"
    assert newest["created_by"] == admin.id and newest["expires_at"] > newest["created_at"]

    await admin.call("DELETE", f"/api/admin/invites/{newest['id']}")
    assert newest["id"] not in [i["id"] for i in (await admin.get("/api/admin/invites"))["invites"]]
    assert (await admin.call("DELETE", f"/api/admin/invites/{newest['id']}"))[0] == 404
    # A revoked invite registers nobody.
    stranger = Client(server.url)
    try:
        body = {"username": "revoked1", "password": USER_PASSWORD, "invite": made["code"]}
        assert (await stranger.call("POST", "/api/auth/register", body))[0] == 403
    finally:
        await stranger.close()


# -- storage, logs, version -----------------------------------------------------------------


async def test_storage_use_is_sane(server: Server, admin: Client) -> None:
    found = await admin.get("/api/admin/storage")
    db_size = (server.data / "pychat.db").stat().st_size
    assert found["database_bytes"] == db_size
    assert found["wal_bytes"] >= 0
    assert found["data_bytes"] >= found["database_bytes"] + found["wal_bytes"] - 65536
    assert 0 < found["disk_free_bytes"] <= found["disk_total_bytes"]
    assert found["counts"]["users"] >= 1 and found["counts"]["rooms"] >= 1
    assert found["counts"]["messages"] >= 0
    assert Path(found["data_dir"]) == server.data.resolve()


async def test_logs_hold_recent_lines_and_no_secrets(
    server: Server, admin: Client, make_user: UserFactory
) -> None:
    user = await make_user("logs")
    made = await admin.post(f"/api/admin/users/{user.id}/reset", expect=201)
    lines = (await admin.get("/api/admin/logs?limit=2000"))["lines"]
    assert lines, "the server logs at least its start"
    assert all(set(line) == {"time", "level", "logger", "message"} for line in lines)
    times = [line["time"] for line in lines]
    assert times == sorted(times)
    assert any("reset link" in line["message"] for line in lines)
    text = str(lines)
    assert reset_token(made["url"]) not in text and USER_PASSWORD not in text
    assert len((await admin.get("/api/admin/logs?limit=1"))["lines"]) == 1
    assert (await admin.call("GET", "/api/admin/logs?limit=0"))[0] == 400
    assert (await admin.call("GET", "/api/admin/logs?limit=x"))[0] == 400


async def test_version_is_sane(admin: Client) -> None:
    found = await admin.get("/api/admin/version")
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", found["version"])
    assert found["schema_version"] == found["newest_schema_version"] >= 2
    assert re.fullmatch(r"3\.\d+\.\d+.*", found["python"])
    assert found["engine"] == "sqlite" and re.fullmatch(r"3\.\d+\.\d+", found["engine_version"])
    assert found["uptime_s"] >= 0 and found["started_at"] > 0


@pytest.mark.parametrize("limit", ["2001", "-1"])
async def test_the_log_limit_is_bounded(admin: Client, limit: str) -> None:
    assert (await admin.call("GET", f"/api/admin/logs?limit={limit}"))[0] == 400
