"""Notification settings on the server (issue 16): the API, its bounds, and every device of
the person kept in step live and by replay."""

from __future__ import annotations

import time
from typing import Any

from tests.client import Client
from tests.conftest import USER_PASSWORD, UserFactory, new_room

DEFAULTS: dict[str, Any] = {
    "direct_level": "all",
    "group_level": "mentions",
    "keywords": [],
    "dnd_start": None,
    "dnd_end": None,
    "snoozed_until": None,
    "hide_text": False,
    "rooms": {},
}
YEAR_MS = 365 * 24 * 3600 * 1000


async def _put(client: Client, path: str, body: Any, expect: int = 200) -> Any:
    status, payload = await client.call("PUT", path, body)
    assert status == expect, (status, payload)
    return payload


async def test_a_change_reaches_every_device_of_hers_live_and_by_replay(
    make_user: UserFactory,
) -> None:
    ann = await make_user("ann")
    bob = await make_user("bob")
    room = await new_room(ann, bob)
    assert await ann.get("/api/me/notifications") == {"notifications": DEFAULTS}

    phone = await Client(ann.base_url).login(ann.user["username"], USER_PASSWORD)
    try:
        phone_sock = await phone.connect()
        bob_sock = await bob.connect()
        before = phone_sock.hello_reply["data"]["head"]

        started = int(time.time() * 1000)
        changed = await _put(
            ann,
            "/api/me/notifications",
            {
                "group_level": "all",
                "keywords": ["  deploy ", "Deploy", "on  call"],
                "dnd_start": "22:00",
                "dnd_end": "07:30",
                "snooze": {"minutes": 60},
                "hide_text": True,
            },
        )
        mine = changed["notifications"]
        assert mine["keywords"] == ["deploy", "on call"]  # trimmed, repeats dropped
        assert (mine["dnd_start"], mine["dnd_end"], mine["hide_text"]) == ("22:00", "07:30", True)
        assert started + 3_600_000 <= mine["snoozed_until"] <= int(time.time() * 1000) + 3_600_000
        event = await phone_sock.event("notify.settings")
        assert event["room"] is None
        assert event["data"] == {"notifications": {k: v for k, v in mine.items() if k != "rooms"}}

        until = int(time.time() * 1000) + 86_400_000
        by_room = await _put(
            ann,
            f"/api/rooms/{room['id']}/notifications",
            {"level": "nothing", "mute": {"until": until}},
        )
        own = {"room": room["id"], "level": "nothing", "muted_until": until}
        assert by_room["notifications"]["rooms"] == {str(room["id"]): own}
        assert (await phone_sock.event("notify.room"))["data"] == own

        # Changing one of the two keeps the other; null drops the room's own level.
        kept = await _put(ann, f"/api/rooms/{room['id']}/notifications", {"level": None})
        assert kept["notifications"]["rooms"][str(room["id"])]["muted_until"] == until
        assert (await phone_sock.event("notify.room"))["data"]["level"] is None
        cleared = await _put(ann, f"/api/rooms/{room['id']}/notifications", {"mute": None})
        assert cleared["notifications"]["rooms"] == {}
        assert (await phone_sock.event("notify.room"))["data"] == {
            "room": room["id"],
            "level": None,
            "muted_until": None,
        }
        off = await _put(ann, "/api/me/notifications", {"snooze": None})
        assert off["notifications"]["snoozed_until"] is None
        assert (await phone_sock.event("notify.settings"))["data"]["notifications"][
            "snoozed_until"
        ] is None

        # Asking for no change changes nothing and tells no device.
        assert await _put(ann, "/api/me/notifications", {}) == off
        assert await _put(ann, f"/api/rooms/{room['id']}/notifications", {}) == off

        # Nobody else hears of it: bob's next event comes after all of ann's, in seq order.
        await bob_sock.send_message(room["id"], "after")
        await bob_sock.event("message.new")
        assert not [e for e in bob_sock.events() if str(e["kind"]).startswith("notify.")]

        # A device that was away gets the changes replayed, in order, before the reply.
        laptop = await Client(ann.base_url).login(ann.user["username"], USER_PASSWORD)
        try:
            laptop_sock = await laptop.connect(since=before)
            kinds = [e["kind"] for e in laptop_sock.events() if e["kind"].startswith("notify.")]
            room_changes = ["notify.room"] * 3
            assert kinds == ["notify.settings", *room_changes, "notify.settings"]
            assert await laptop.get("/api/me/notifications") == off
        finally:
            await laptop.close()
    finally:
        await phone.close()


async def test_bad_settings_are_refused_with_the_error_envelope(make_user: UserFactory) -> None:
    ann = await make_user("ann")
    bob = await make_user("bob")
    mine = await new_room(ann)
    theirs = await new_room(bob)
    now = int(time.time() * 1000)
    me = "/api/me/notifications"
    room = f"/api/rooms/{mine['id']}/notifications"
    for path, body in (
        (me, {"direct_level": "loud"}),
        (me, {"group_level": None}),
        (me, {"keywords": [f"k{i}" for i in range(21)]}),
        (me, {"keywords": ["x" * 41]}),
        (me, {"keywords": ["   "]}),
        (me, {"keywords": ["bell\u0007"]}),
        (me, {"keywords": "deploy"}),
        (me, {"dnd_start": "22:00"}),
        (me, {"dnd_start": "24:00", "dnd_end": "07:00"}),
        (me, {"dnd_start": "7:00", "dnd_end": "08:00"}),
        (me, {"dnd_start": "22:00", "dnd_end": None}),
        (me, {"dnd_start": "09:00", "dnd_end": "09:00"}),
        (me, {"snooze": {"minutes": 0}}),
        (me, {"snooze": {"minutes": 60, "until": now + 1000}}),
        (me, {"snooze": {"until": now - 1000}}),
        (me, {"snooze": {"until": now + YEAR_MS + 3_600_000}}),
        (me, {"snooze": 60}),
        (me, {"hide_text": "yes"}),
        (me, {"volume": 11}),
        (room, {"level": "some"}),
        (room, {"mute": {"minutes": 365 * 24 * 60 + 1}}),
        (room, {"mute": {"hours": 1}}),
    ):
        status, payload = await ann.call("PUT", path, body)
        assert status == 400, (body, status, payload)
        assert payload["error"]["code"] == "bad_request" and payload["error"]["message"], payload
    # Twenty distinct keywords are fine, and so are repeats beyond them.
    twenty = [f"k{i}" for i in range(20)]
    ok = await _put(ann, me, {"keywords": [*twenty, "K0"]})
    assert ok["notifications"]["keywords"] == twenty
    # Someone else's room, or none, is not found; without a session, 401.
    for path in (f"/api/rooms/{theirs['id']}/notifications", "/api/rooms/999999/notifications"):
        status, payload = await ann.call("PUT", path, {"level": "all"})
        assert status == 404 and payload["error"]["code"] == "not_found", payload
    anonymous = Client(ann.base_url)
    try:
        status, payload = await anonymous.call("GET", me)
        assert status == 401 and payload["error"]["code"] == "unauthorized"
    finally:
        await anonymous.close()
    assert (await ann.get(me))["notifications"]["dnd_start"] is None  # nothing half-applied
