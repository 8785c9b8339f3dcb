"""A room's history is not unread for someone who joins it (issue 17, scale of history), and
unread counts stop at a cap that the wire states honestly.

Every way into a room (joining a channel, being added, a new account's `general`, joining
again after leaving) sets the joiner's read marker at the room's newest timeline message, and
her thread markers past the room's `@room` replies: she starts with nothing unread and no
mentions, can still page the history, and counts what comes after. A `read` event after
`member.join` tells her other devices and the room where the marker is. `unread` counts at
most 1,000 (meaning "1,000 or more"); below that it is exact. Mentions stay exact."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from tests.client import Client, Socket
from tests.conftest import UserFactory, new_room
from tests.integration.test_messages import at, room_state

UNREAD_CAP = 1000  # docs/api.md, `room.unread`


async def counters(client: Client, room_id: int) -> tuple[int, int, int]:
    state = await room_state(client, room_id)
    return state["unread"], state["mentions"], state["thread_mentions"]


async def test_a_newcomer_starts_read_and_counts_only_what_follows(
    make_user: UserFactory,
) -> None:
    alice, bob, carol = [await make_user(p) for p in ("alice", "bob", "carol")]
    channel = await new_room(alice, kind="channel", name=f"history-{uuid.uuid4().hex[:6]}")
    rid = channel["id"]
    a, b_elsewhere = await alice.connect(), await bob.connect()
    old = [await a.send_message(rid, f"before anyone came {i}") for i in range(3)]
    root = await a.send_message(rid, "@room a thread")
    await a.send_message(rid, "@room in the thread", thread=root["id"])
    newest = await a.send_message(rid, f"{at(alice)} talking to myself")

    joined = (await bob.post(f"/api/rooms/{rid}/join"))["room"]

    assert (joined["unread"], joined["mentions"], joined["thread_mentions"]) == (0, 0, 0)
    assert joined["last_read_message_id"] == joined["last_message_id"] == newest["id"]
    assert await counters(bob, rid) == (0, 0, 0)
    # Her other device hears of the join, then of her marker; so does the room.
    join = await b_elsewhere.event("member.join", room=rid)
    read = await b_elsewhere.event("read", room=rid, data={"user": bob.id, "message": newest["id"]})
    assert join["seq"] < read["seq"]
    await a.event("read", room=rid, data={"user": bob.id, "message": newest["id"]})
    assert (await alice.get(f"/api/rooms/{rid}/reads"))["reads"][str(bob.id)] == newest["id"]
    # The history is still hers to scroll.
    page = await bob.get(f"/api/rooms/{rid}/messages?limit=50")
    assert [m["id"] for m in page["messages"]] == [
        *(m["id"] for m in old),
        root["id"],
        newest["id"],
    ]

    # What follows counts: in the timeline, and a new `@room` in the old thread.
    await a.send_message(rid, "welcome")
    await a.send_message(rid, f"{at(bob)} see the notes")
    await a.send_message(rid, "@room again", thread=root["id"])
    assert await counters(bob, rid) == (2, 2, 1)

    # Being added by someone is the same, and so is coming back after leaving.
    await alice.post(f"/api/rooms/{rid}/members", {"user_ids": [carol.id]})
    assert await counters(carol, rid) == (0, 0, 0)
    status, _ = await bob.call("POST", f"/api/rooms/{rid}/leave")
    assert status == 204
    await a.send_message(rid, "while bob was away")
    rejoined = (await bob.post(f"/api/rooms/{rid}/join"))["room"]
    assert (rejoined["unread"], rejoined["mentions"]) == (0, 0)


async def test_a_new_account_starts_with_general_read(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    general = next(r for r in (await alice.get("/api/rooms"))["rooms"] if r["kind"] == "channel")
    a = await alice.connect()
    said = await a.send_message(general["id"], "@room hello whoever joins next")

    newcomer = await make_user("newcomer")

    state = await room_state(newcomer, general["id"])
    assert (state["unread"], state["mentions"]) == (0, 0)
    assert state["last_read_message_id"] is not None
    assert state["last_read_message_id"] >= said["id"]


async def send_many(sock: Socket, room_id: int, count: int) -> list[dict[str, Any]]:
    """`count` messages sent a batch at a time (the writer commits a batch together)."""
    sent: list[dict[str, Any]] = []
    for start in range(0, count, 50):
        batch = range(start, min(count, start + 50))
        sent += await asyncio.gather(*(sock.send_message(room_id, f"m{i}") for i in batch))
    return sorted(sent, key=lambda m: int(m["id"]))


async def test_unread_stops_at_the_cap_and_is_exact_below_it(make_user: UserFactory) -> None:
    alice, carol, bob = [await make_user(p) for p in ("alice", "carol", "bob")]
    room = await new_room(alice, carol, bob)
    rid = room["id"]
    a, c, b = await alice.connect(), await carol.connect(), await bob.connect()
    # Two authors: each stays inside the send burst of the test server.
    sent = sorted(
        [*await send_many(a, rid, 501), *await send_many(c, rid, 501)], key=lambda m: m["id"]
    )
    mention = await a.send_message(rid, f"{at(bob)} and one more")
    assert len(sent) + 1 > UNREAD_CAP

    # 1,003 unread: the count says the cap ("1,000 or more"); the mention is exact.
    assert await counters(bob, rid) == (UNREAD_CAP, 1, 0)
    # Reading all but 999: exact again.
    await b.ok({"type": "read.mark", "room": rid, "message": sent[3]["id"]})
    assert await counters(bob, rid) == (999, 1, 0)
    await b.ok({"type": "read.mark", "room": rid, "message": mention["id"]})
    assert await counters(bob, rid) == (0, 0, 0)
