"""Admins choose who may register: invite codes (default), anyone on the LAN, or nobody."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from tests.client import Client
from tests.conftest import USER_PASSWORD, UserFactory
from tests.server import Server


def _signup() -> dict[str, str]:
    return {"username": f"new{uuid.uuid4().hex[:8]}", "password": USER_PASSWORD}


async def test_policy_open_then_closed(make_server: Callable[..., Server]) -> None:
    srv = make_server()
    admin = await Client(srv.url).login("admin", "admin-password-1")
    stranger = Client(srv.url)
    try:
        assert (await admin.get("/api/admin/settings"))["registration"] == "invite"
        status, body = await stranger.call("POST", "/api/auth/register", _signup())
        assert status == 403 and body["error"]["code"] == "forbidden"

        status, body = await admin.call("PATCH", "/api/admin/settings", {"registration": "open"})
        assert status == 200 and body["registration"] == "open"
        status, body = await stranger.call("POST", "/api/auth/register", _signup())
        assert status == 201
        assert (await stranger.get("/api/me"))["user"]["username"] == body["user"]["username"]

        await admin.call("PATCH", "/api/admin/settings", {"registration": "closed"})
        invite = await admin.post("/api/admin/invites", {}, expect=201)
        newcomer = Client(srv.url)
        status, body = await newcomer.call(
            "POST", "/api/auth/register", {**_signup(), "invite": invite["code"]}
        )
        assert status == 403, "closed means closed, even with an invite"
        await newcomer.close()
    finally:
        await admin.close()
        await stranger.close()


async def test_invite_links_work_once_and_new_people_land_in_general(
    make_server: Callable[..., Server],
) -> None:
    srv = make_server()
    admin = await Client(srv.url).login("admin", "admin-password-1")
    first, second = Client(srv.url), Client(srv.url)
    try:
        invite = await admin.post("/api/admin/invites", {"uses": 1}, expect=201)
        assert invite["url"].endswith(f"/register?invite={invite['code']}")
        status, _ = await first.call(
            "POST", "/api/auth/register", {**_signup(), "invite": invite["code"]}
        )
        assert status == 201
        rooms = (await first.get("/api/rooms"))["rooms"]
        assert [r["name"] for r in rooms] == ["general"]
        status, body = await second.call(
            "POST", "/api/auth/register", {**_signup(), "invite": invite["code"]}
        )
        assert status == 403 and "invite" in body["error"]["message"]
    finally:
        for c in (admin, first, second):
            await c.close()


async def test_only_admins_change_settings(make_user: UserFactory) -> None:
    member = await make_user("plain")
    status, body = await member.call("PATCH", "/api/admin/settings", {"registration": "open"})
    assert status == 403 and body["error"]["code"] == "forbidden"
    status, _ = await member.call("GET", "/api/admin/settings")
    assert status == 403


async def test_bad_policy_is_refused(admin: Client) -> None:
    status, body = await admin.call("PATCH", "/api/admin/settings", {"registration": "maybe"})
    assert status == 400 and body["error"]["code"] == "bad_request"
    assert (await admin.get("/api/admin/settings"))["registration"] == "invite"
