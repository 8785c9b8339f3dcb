"""Ephemeral real-time frames: typing, presence, ping, and dropping dead sockets."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from tests.client import WAIT, Client, Socket
from tests.conftest import USER_PASSWORD, UserFactory, new_room
from tests.presence import listed_online, presence_of, went
from tests.server import ADMIN_PASSWORD, Server

Frame = dict[str, Any]


async def pong(sock: Socket) -> None:
    """A round trip: everything the server queued for this socket before it has arrived."""
    await sock.send({"type": "ping"})
    await sock.wait_for(lambda f: f.get("type") == "pong")


# -- typing ----------------------------------------------------------------------------------


async def test_typing_reaches_the_other_members_but_not_the_typist(
    make_user: UserFactory,
) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    room = await new_room(alice, bob, carol)
    a, b, c = await alice.connect(), await bob.connect(), await carol.connect()

    await a.send({"type": "typing", "room": room["id"]})

    expected = {"type": "typing", "room": room["id"], "user": alice.id}
    assert await b.wait_for(lambda f: f.get("type") == "typing") == expected
    assert await c.wait_for(lambda f: f.get("type") == "typing") == expected
    await pong(a)
    assert [f for f in a.frames if f.get("type") in ("typing", "reply")] == []


async def test_typing_is_not_sent_to_people_outside_the_room(make_user: UserFactory) -> None:
    alice, bob, eve = await make_user("alice"), await make_user("bob"), await make_user("eve")
    room = await new_room(alice, bob)
    a, b, e = await alice.connect(), await bob.connect(), await eve.connect()

    await a.send({"type": "typing", "room": room["id"]})

    await b.wait_for(lambda f: f.get("type") == "typing")
    await pong(e)
    assert [f for f in e.frames if f.get("type") == "typing"] == []


async def test_typing_is_never_replayed(make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await new_room(alice, bob)
    a, b = await alice.connect(), await bob.connect()
    since = int(b.hello_reply["data"]["head"])
    sent = await a.send_message(room["id"], "before typing")
    await a.send({"type": "typing", "room": room["id"]})
    await b.wait_for(lambda f: f.get("type") == "typing")

    tab = await bob.connect(since=since)

    replayed = [f for f in tab.frames if f.get("type") != "presence"]
    assert [f["data"]["message"] for f in replayed if f.get("kind") == "message.new"] == [sent]
    assert all(f.get("type") == "event" for f in replayed), replayed


async def test_typing_with_req_gets_an_empty_reply(make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await new_room(alice, bob)
    a = await alice.connect()

    assert await a.ok({"type": "typing", "room": room["id"]}) == {}


async def test_typing_in_a_room_you_are_not_in_is_not_found_every_time(
    make_user: UserFactory,
) -> None:
    alice, bob, eve = await make_user("alice"), await make_user("bob"), await make_user("eve")
    room = await new_room(alice, bob)
    b, e = await bob.connect(), await eve.connect()

    for _ in range(3):
        error = await e.error({"type": "typing", "room": room["id"]})
        assert error["code"] == "not_found", error
    await pong(b)
    assert [f for f in b.frames if f.get("type") == "typing"] == []


# -- presence --------------------------------------------------------------------------------


async def test_presence_follows_a_user_coming_and_going(make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    b = await bob.connect()
    assert not await listed_online(bob, alice.id)

    a = await alice.connect()
    await b.wait_for(went(alice.id, True))
    assert await listed_online(bob, alice.id)

    before = int(time.time() * 1000)
    await a.close()
    frame = await b.wait_for(went(alice.id, False))
    entry = presence_of(frame, alice.id)
    assert entry is not None and isinstance(entry["last_seen"], int)
    assert before - 5000 <= entry["last_seen"] <= int(time.time() * 1000) + 5000
    assert not await listed_online(bob, alice.id)


async def test_a_user_with_two_tabs_stays_online_until_the_last_closes(
    make_user: UserFactory,
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    b = await bob.connect()
    tab1 = await alice.connect()
    tab2 = await alice.connect()
    await b.wait_for(went(alice.id, True))

    await tab1.close()
    await tab2.close()
    await b.wait_for(went(alice.id, False))

    # Exactly one offline notice for the two tabs, and no second "online" in between.
    await pong(b)
    extra = [f for f in b.frames if presence_of(f, alice.id) is not None]
    assert extra == [], extra


# -- ping ------------------------------------------------------------------------------------


async def test_ping_gets_a_pong(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    a = await alice.connect()

    await a.send({"type": "ping"})
    assert await a.wait_for(lambda f: f.get("type") != "presence") == {"type": "pong"}

    assert await a.ok({"type": "ping"}) == {}
    assert await a.wait_for(lambda f: f.get("type") == "pong") == {"type": "pong"}
    assert [f for f in a.frames if f.get("type") == "reply"] == []


# -- dead sockets ----------------------------------------------------------------------------


async def test_a_socket_that_stops_answering_pings_is_closed(
    make_server: Callable[..., Server],
) -> None:
    srv = make_server({"PYCHAT_WS_HEARTBEAT_S": "1"})
    admin = await Client(srv.url).login("admin", ADMIN_PASSWORD)
    clients = [admin]
    try:
        await admin.post(
            "/api/admin/users", {"username": "mute", "password": USER_PASSWORD}, expect=201
        )
        mute = await Client(srv.url).login("mute", USER_PASSWORD)
        clients.append(mute)
        # Connected first, so it lives through every heartbeat the mute one does; it answers
        # the pings (aiohttp's autoping) and must stay open.
        healthy = await admin.connect()

        dead = await mute.http.ws_connect(srv.ws_url, autoping=False)
        await dead.send_str(json.dumps({"type": "hello", "since": None, "req": "h"}))
        pings = 0
        started = time.monotonic()
        while True:
            msg = await dead.receive(timeout=WAIT)
            if msg.type == aiohttp.WSMsgType.PING:
                pings += 1  # ...and never answered
            elif msg.type != aiohttp.WSMsgType.TEXT:
                break
        assert msg.type in (
            aiohttp.WSMsgType.CLOSE,
            aiohttp.WSMsgType.CLOSING,
            aiohttp.WSMsgType.CLOSED,
            aiohttp.WSMsgType.ERROR,
        ), msg
        assert pings >= 1
        assert time.monotonic() - started < WAIT
        await dead.close()

        # The server noticed: mute is offline for everyone; the healthy socket lives on.
        await healthy.wait_for(went(mute.id, False))
        assert not await listed_online(admin, mute.id)
        await pong(healthy)
        room = await new_room(admin)
        assert (await healthy.send_message(room["id"], "still here"))["body"] == "still here"
        assert not healthy.closed.is_set()
    finally:
        for client in clients:
            await client.close()
