"""Room caps hold however people are added (issue 13, item 6): a colleague cannot push
someone into rooms until she can make none, rooms cannot be created in a flood, a room
holds only so many members, and neither `general` nor the Echo test call breaks."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from tests.client import Client
from tests.conftest import UserFactory, new_room, people_on
from tests.server import Server

# Own servers here test one cap each: room creation must not be throttled meanwhile.
UNTHROTTLED = {"PYCHAT_LIMITS_ROOM_CREATES_BURST": "100000"}


async def room_ids(client: Client) -> set[int]:
    return {int(r["id"]) for r in (await client.get("/api/rooms"))["rooms"]}


async def create(owner: Client, *members: Client, kind: str = "private") -> tuple[int, Any]:
    body: dict[str, Any] = {"kind": kind, "members": [m.id for m in members]}
    if kind != "direct":
        body["name"] = "room"
    return await owner.call("POST", "/api/rooms", body)


def refused(status: int, body: Any, *words: str) -> None:
    assert status == 409, (status, body)
    assert body["error"]["code"] == "conflict", body
    message = body["error"]["message"]
    assert "limits.rooms_per_user" in message, message
    for word in words:
        assert word in message, message


async def test_a_colleague_cannot_push_someone_into_rooms_until_she_can_make_none(
    make_server: Callable[..., Server],
) -> None:
    # 5 rooms each; others may fill 4 of them (general is one).
    srv = make_server({**UNTHROTTLED, "PYCHAT_LIMITS_ROOMS_PER_USER": "5"})
    async for make in people_on(srv.url):
        alice, mallory, bob = await make("alice"), await make("mallory"), await make("bob")
        channel = await new_room(bob, kind="channel", name="lunch")
        pushed = [(await new_room(mallory, alice))["id"] for _ in range(3)]
        assert len(await room_ids(alice)) == 4

        # Every way of adding her to one more room is refused, naming her and the limit.
        refused(*await create(mallory, alice), alice.user["username"])
        spare = (await new_room(mallory))["id"]
        status, body = await mallory.call(
            "POST", f"/api/rooms/{spare}/members", {"user_ids": [alice.id]}
        )
        refused(status, body, alice.user["username"])
        refused(*await create(bob, alice, kind="direct"), alice.user["username"])
        assert len(await room_ids(alice)) == 4

        # Her rooms still work, and the last room is hers to make (or join).
        sock = await alice.connect()
        sent = await sock.send_message(pushed[0], "still here")
        assert sent["body"] == "still here"
        own = await new_room(alice, kind="private", name="mine")
        assert own["members"] == [alice.id]
        # Now she is full: she cannot make or join one more until she leaves one.
        refused(*await create(alice), "You are already in 5 rooms")
        refused(*await alice.call("POST", f"/api/rooms/{channel['id']}/join"), "5 rooms")
        assert await alice.call("POST", f"/api/rooms/{pushed[1]}/leave") == (204, "")
        joined = await alice.post(f"/api/rooms/{channel['id']}/join")
        assert alice.id in joined["room"]["members"]
        assert len(await room_ids(alice)) == 5

        # Echo is in a direct room with everyone who tries a test call: it has no cap.
        for n in range(5):
            caller = await make(f"caller{n}")
            room = (await caller.post("/api/test-call"))["room"]
            assert room["kind"] == "direct" and caller.id in room["members"]
        assert (await caller.post("/api/test-call"))["room"]["id"] == room["id"]


async def test_a_room_holds_only_so_many_members_but_general_takes_everyone(
    make_server: Callable[..., Server],
) -> None:
    srv = make_server({**UNTHROTTLED, "PYCHAT_LIMITS_MEMBERS_PER_ROOM": "3"})
    async for make in people_on(srv.url):
        people = [await make(f"p{n}") for n in range(4)]  # and admin: 5 in general
        a, b, c, d = people
        room = await new_room(a, b)
        await a.post(f"/api/rooms/{room['id']}/members", {"user_ids": [c.id]})
        status, body = await a.call(
            "POST", f"/api/rooms/{room['id']}/members", {"user_ids": [d.id]}
        )
        assert status == 409 and "limits.members_per_room" in body["error"]["message"], body
        channel = await new_room(a, b, c, kind="channel", name="full")
        status, body = await d.call("POST", f"/api/rooms/{channel['id']}/join")
        assert status == 409 and "limits.members_per_room" in body["error"]["message"], body
        # People joining at the same moment cannot pass the cap together.
        open_channel = await new_room(a, kind="channel", name="open")
        joins = [p.call("POST", f"/api/rooms/{open_channel['id']}/join") for p in (b, c, d)]
        statuses = sorted(status for status, _ in await asyncio.gather(*joins))
        assert statuses == [200, 200, 409], statuses
        assert len((await a.get(f"/api/rooms/{open_channel['id']}"))["room"]["members"]) == 3
        # Every new account still starts in general, past the cap.
        general = next(r for r in (await d.get("/api/rooms"))["rooms"] if r["name"] == "general")
        assert {p.id for p in people} <= set(general["members"])
        await d.post(f"/api/rooms/{general['id']}/leave", expect=204)
        await d.post(f"/api/rooms/{general['id']}/join")


async def test_a_flood_of_new_rooms_is_slowed_down(make_user: UserFactory) -> None:
    # The shared server keeps the defaults: a burst of 20, then one a minute.
    alice, bob = await make_user("alice"), await make_user("bob")
    direct = await new_room(bob, alice, kind="direct")
    before = await room_ids(alice)
    for n in range(20):
        await new_room(alice, name=f"flood {n}")
    async with alice.http.post(
        alice.base_url + "/api/rooms", json={"kind": "private", "name": "one too many"}
    ) as resp:
        body = await resp.json()
        assert resp.status == 429, body
        assert body["error"]["code"] == "rate_limited"
        assert "limits.room_creates_per_minute" in body["error"]["message"]
        assert int(resp.headers["Retry-After"]) >= 1
    assert len(await room_ids(alice)) == len(before) + 20
    # An existing direct room is reopened, not created; others are not slowed.
    assert (await new_room(alice, bob, kind="direct"))["id"] == direct["id"]
    await new_room(bob, name="bob's own")
