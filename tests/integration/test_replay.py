"""Coming back after time away: `hello since=<seq>` replays exactly what was missed.

A client remembers the last `seq` it saw. On reconnect it must get every event it may see
after that seq, in order, once, and then live events with no gap between the two, even
while other people keep sending during the reconnect.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any
from unittest.mock import ANY

from tests.client import WAIT, Client, Socket
from tests.conftest import UserFactory, new_room
from tests.server import ADMIN_PASSWORD, Server

Frame = dict[str, Any]


def room_messages(frames: list[Frame], room_id: int) -> list[Frame]:
    """The message.new events of one room among `frames`, in arrival order."""
    return [
        f
        for f in frames
        if f.get("type") == "event" and f.get("kind") == "message.new" and f.get("room") == room_id
    ]


async def wait_seen(sock: Socket, done: Callable[[], bool], timeout: float = WAIT) -> None:
    """Wait (without consuming frames) until `done()` holds for what the socket has seen."""
    await sock.until(done, timeout)


async def dismiss(*tasks: asyncio.Future[Any]) -> None:
    """Cancel helper tasks and collect their outcomes, so none is left unretrieved."""
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def seqs(frames: list[Frame]) -> list[int]:
    return [int(f["seq"]) for f in frames if f.get("type") == "event"]


async def test_reconnect_replays_exactly_the_missed_messages_then_goes_live(
    make_user: UserFactory,
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await new_room(bob, alice)
    a, b = await alice.connect(), await bob.connect()
    seen = await b.send_message(room["id"], "before you left")
    event = await a.event("message.new", room=room["id"])
    assert event["data"]["message"] == seen
    last = event["seq"]
    await a.close()

    missed = [await b.send_message(room["id"], f"while away {i}") for i in range(5)]
    back = await alice.connect(since=last)
    replayed = room_messages(back.events(), room["id"])

    assert [e["data"]["message"] for e in replayed] == missed
    assert seqs(back.events()) == sorted(set(seqs(back.events())))
    assert all(s > last for s in seqs(back.events()))
    assert back.hello_reply["ok"] and back.hello_reply["data"]["head"] >= replayed[-1]["seq"]
    assert "resync" not in back.hello_reply["data"]

    live = await b.send_message(room["id"], "welcome back")
    got = await back.wait_for(
        lambda f: f.get("kind") == "message.new" and f["data"]["message"]["id"] == live["id"]
    )
    assert got["data"]["message"] == live and got["seq"] > replayed[-1]["seq"]
    assert room_messages(back.frames, room["id"]) == replayed  # nothing twice


async def test_reconnecting_while_others_send_misses_and_repeats_nothing(
    make_user: UserFactory,
) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    room = await new_room(bob, alice, carol)
    rid = room["id"]
    sb, sc = await bob.connect(), await carol.connect()
    sock = await alice.connect()
    last = int(sock.hello_reply["data"]["head"])
    sent: list[Frame] = []
    progress = asyncio.Event()  # set whenever a sender's message is acknowledged

    async def sender(s: Socket, name: str, count: int) -> None:
        for i in range(count):
            sent.append(await s.send_message(rid, f"{name} {i}"))
            progress.set()

    senders = asyncio.ensure_future(asyncio.gather(sender(sb, "bob", 60), sender(sc, "carol", 60)))
    seen: list[Frame] = []  # every event frame alice's connections handed to her, in order
    reconnects = replayed = 0
    try:
        while not senders.done():
            # Stay long enough to see a few messages live, then drop and come back.
            enough = len(room_messages(sock.frames, rid)) + 3
            waiting = asyncio.ensure_future(
                wait_seen(sock, lambda s=sock, n=enough: len(room_messages(s.frames, rid)) >= n)
            )
            await asyncio.wait([waiting, senders], return_when=asyncio.FIRST_COMPLETED)
            await dismiss(waiting)
            await sock.close()
            seen.extend(f for f in sock.frames if f.get("type") == "event")
            last = max([last, *seqs(sock.frames)])
            # Away until a message she has not seen is stored: it must come in the replay.
            newest = max([0, *(e["data"]["message"]["id"] for e in room_messages(seen, rid))])
            while not senders.done() and not any(m["id"] > newest for m in sent):
                progress.clear()
                away = asyncio.ensure_future(progress.wait())
                await asyncio.wait([away, senders], return_when=asyncio.FIRST_COMPLETED)
                await dismiss(away)
            sock = await alice.connect(since=last)
            assert "resync" not in sock.hello_reply["data"], sock.hello_reply
            replayed += len(room_messages(sock.frames, rid))
            reconnects += 1
        await senders
        expected = sorted(m["id"] for m in sent)

        def has(message_id: int) -> bool:
            frames = seen + sock.frames
            return any(e["data"]["message"]["id"] == message_id for e in room_messages(frames, rid))

        await wait_seen(sock, lambda: has(expected[-1]))
        marker = await sb.send_message(rid, "marker")
        await wait_seen(sock, lambda: has(marker["id"]))
    finally:
        if not senders.done():
            await dismiss(senders)
    seen.extend(f for f in sock.frames if f.get("type") == "event")

    assert reconnects >= 2 and replayed >= reconnects - 1
    got = [e["data"]["message"]["id"] for e in room_messages(seen, rid)]
    assert got == [*expected, marker["id"]]  # each message once, in the room's order
    assert seqs(seen) == sorted(set(seqs(seen)))  # seq strictly increasing across reconnects
    by_id = {m["id"]: m for m in sent}
    for event in room_messages(seen, rid)[:-1]:
        assert event["data"]["message"] == by_id[event["data"]["message"]["id"]]


async def test_hello_since_null_replays_nothing(make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await new_room(bob, alice)
    b = await bob.connect()
    for i in range(3):
        await b.send_message(room["id"], f"old {i}")

    a = await alice.connect(since=None)

    assert a.events() == []
    assert a.hello_reply["data"]["head"] >= 1 and "resync" not in a.hello_reply["data"]
    live = await b.send_message(room["id"], "new")
    got = await a.event("message.new", room=room["id"])
    assert got["data"]["message"] == live
    assert room_messages(a.frames, room["id"]) == []  # the old ones never came


async def test_hello_since_the_future_asks_for_a_resync(make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await new_room(bob, alice)
    b = await bob.connect()
    head = int(b.hello_reply["data"]["head"])

    a = await alice.connect(since=head + 1000)

    assert a.hello_reply["ok"]
    assert a.hello_reply["data"]["resync"] is True
    assert a.hello_reply["data"]["head"] >= head
    assert a.events() == []
    live = await b.send_message(room["id"], "after resync")  # the socket is live all the same
    assert (await a.event("message.new", room=room["id"]))["data"]["message"] == live


async def test_hello_older_than_the_replay_limit_asks_for_a_resync(
    make_server: Callable[..., Server],
) -> None:
    srv = make_server({"PYCHAT_WS_REPLAY_LIMIT": "5"})
    admin = await Client(srv.url).login("admin", ADMIN_PASSWORD)
    try:
        room = await new_room(admin)
        sock = await admin.connect()
        start = int(sock.hello_reply["data"]["head"])
        for i in range(8):
            await sock.send_message(room["id"], f"m{i}")
        head = start + 8

        stale = await admin.connect(since=start)
        assert stale.hello_reply["data"] == {"resync": True, "head": head, "conn": ANY}
        assert stale.events() == []

        recent = await admin.connect(since=head - 5)  # exactly the limit: still replayed
        assert "resync" not in recent.hello_reply["data"]
        assert [e["data"]["message"]["body"] for e in recent.events()] == [
            f"m{i}" for i in range(3, 8)
        ]

        live = await sock.send_message(room["id"], "live")
        assert (await stale.event("message.new", room=room["id"]))["data"]["message"] == live
    finally:
        await admin.close()


async def test_two_tabs_of_one_user_see_the_same_events_in_the_same_order(
    make_user: UserFactory,
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await new_room(bob, alice)
    tab1, tab2 = await alice.connect(), await alice.connect()
    b = await bob.connect()

    await asyncio.gather(
        *(b.send_message(room["id"], f"bob {i}") for i in range(10)),
        *(tab1.send_message(room["id"], f"alice {i}") for i in range(10)),
    )
    first = await b.send_message(room["id"], "typo")
    await b.ok({"type": "message.edit", "message": first["id"], "body": "fixed"})
    await tab2.ok({"type": "reaction.set", "message": first["id"], "emoji": "👍", "on": True})
    marker = await b.send_message(room["id"], "marker")
    for tab in (tab1, tab2):
        await wait_seen(
            tab,
            lambda t=tab: any(
                e["data"]["message"]["id"] == marker["id"]
                for e in room_messages(t.frames, room["id"])
            ),
        )

    assert tab1.events() == tab2.events()
    assert len(room_messages(tab1.frames, room["id"])) == 22
    kinds = {e["kind"] for e in tab1.events()}
    assert {"message.new", "message.edit", "reaction"} <= kinds
    assert seqs(tab1.frames) == sorted(set(seqs(tab1.frames)))
