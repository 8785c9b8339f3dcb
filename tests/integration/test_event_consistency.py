"""The event stream, applied to a stale snapshot, gives what a fresh fetch gives.

In the style of Zulip's `verify_action`: take a REST snapshot of each user's rooms and of the
history of the rooms they are in, let several people act at once (send, edit, delete, react,
mark read, reply in threads, rename, join, leave, create a room), collect every event each
user's socket received, fold them into the stale snapshot with the small pure reducer below,
and compare with a fresh REST fetch. The same is done with the events a socket replays on
`hello` from the snapshot's `seq`.

What a client must derive itself (the events do not carry it):
- `reply_count` and `last_reply_at` of a thread root: no event touches the root when a reply
  arrives or is deleted; count the root's replies that are not deleted (and the newest
  one's `created_at`) from `message.new` / `message.delete` of messages whose `thread` is it.
  (`message.new` carries 0 / null for a new root; `message.edit` carries the values current
  at the edit, which the count above reproduces.)
- `reactions` of a message: `message.new` carries `{}`; `reaction` events are deltas
  (`on` adds the user under the emoji, off removes it and an emoji with nobody left
  disappears). A delete clears every reaction with no `reaction` events: take the
  tombstone from `message.delete` as it is. The order of user ids under an emoji is not part
  of the contract (compared sorted here).
- A room's `last_message_id` is the newest *timeline* message (thread replies do not count;
  deleted ones still do): the max id of `message.new` with `thread: null`.
- A room's `last_read_message_id` is the `message` of the newest `read` event whose `user`
  is oneself; the `reads` map of a room drops a member who leaves (`member.leave`).
- `unread` and `mentions` are per viewer: `room.new`, `room.update` and `member.join` carry
  a room object whose per-viewer fields are zero / null, so never copy them from an event.
  With a room's history at hand: unread = timeline messages, not deleted, by others, after
  one's read marker; mentions = messages (replies included), not deleted, by others, after
  the marker, that list oneself in `mentions` or have `mention_room`. A client without a
  room's history (e.g. a room it was just added to, which arrives in `member.join` with its
  `data.room`) fetches the room over REST for those counts and for its history.
- `member.leave` of oneself removes the room and everything in it from the client's state;
  nothing more about that room will arrive.
- Replay follows current membership: a socket resuming with `hello` gets, for a room it has
  since joined, that room's earlier events too (it can read that history anyway), and for a
  room it has left, only the `member.leave` about itself. Folding either stream into the
  same snapshot gives the same state.
"""

from __future__ import annotations

import asyncio
import copy
import uuid
from typing import Any

from tests.client import Client, Socket
from tests.conftest import UserFactory, new_room

State = dict[str, Any]

STRUCTURAL = ("id", "kind", "name", "topic", "members", "created_by", "created_at")
POSITIONS = ("last_message_id", "last_read_message_id")
COUNTS = ("unread", "mentions")
ROOM_KINDS = {
    "room.new",
    "room.update",
    "member.join",
    "member.leave",
    "message.new",
    "message.edit",
    "message.delete",
    "reaction",
    "read",
}


# -- snapshots ----------------------------------------------------------------------------------


async def fetch(client: Client, held: set[int]) -> State:
    """What REST says now: the user's rooms, and the full history of the `held` ones
    (timeline, every thread, read markers)."""
    rooms = {r["id"]: r for r in (await client.get("/api/rooms"))["rooms"]}
    history: dict[int, dict[str, Any]] = {}
    for rid in sorted(held & set(rooms)):
        page = await client.get(f"/api/rooms/{rid}/messages?limit=200")
        assert page["has_more"] is False
        messages = {m["id"]: m for m in page["messages"]}
        for root in page["messages"]:
            thread = await client.get(f"/api/messages/{root['id']}/thread")
            assert thread["root"]["id"] == root["id"]
            messages.update((m["id"], m) for m in thread["replies"])
        reads = (await client.get(f"/api/rooms/{rid}/reads"))["reads"]
        history[rid] = {"messages": messages, "reads": {int(k): v for k, v in reads.items()}}
    return {"rooms": rooms, "held": history, "partial": set()}


# -- the reducer --------------------------------------------------------------------------------


def apply(state: State, me: int, event: dict[str, Any]) -> State:
    """One event folded into a client's state; pure (returns a new state)."""
    s = copy.deepcopy(state)
    kind, rid, data = event["kind"], event["room"], event["data"]
    rooms, held = s["rooms"], s["held"]
    if rid is None:
        return s  # user.update and the like: not part of this state
    assert kind in ROOM_KINDS, f"the reducer does not know {kind!r}"

    if kind == "room.new":
        if me in data["room"]["members"]:
            rooms[rid] = {**data["room"], "members": sorted(data["room"]["members"])}
            held[rid] = {"messages": {}, "reads": {}}  # a new room has no history yet
        return s
    if kind == "member.join" and data["user"] == me and rid not in rooms:
        # Added to a room: its history (and so the per-viewer counters) comes over REST.
        rooms[rid] = {**data["room"], "members": sorted(data["room"]["members"])}
        s["partial"].add(rid)
        return s
    if rid not in rooms:
        return s  # replay may bring a room's events from before one joined it
    room = rooms[rid]
    history = held.get(rid)

    if kind == "room.update":
        room["name"], room["topic"] = data["room"]["name"], data["room"]["topic"]
    elif kind == "member.join":
        room["members"] = sorted(set(room["members"]) | {data["user"]})
    elif kind == "member.leave":
        if data["user"] == me:
            del rooms[rid]
            held.pop(rid, None)
            s["partial"].discard(rid)
        else:
            room["members"] = [u for u in room["members"] if u != data["user"]]
            if history is not None:
                history["reads"].pop(data["user"], None)
    elif kind in ("message.new", "message.edit", "message.delete"):
        message = data["message"]
        if kind == "message.new" and message["thread"] is None:
            room["last_message_id"] = max(room["last_message_id"] or 0, message["id"])
        if history is not None:
            history["messages"][message["id"]] = message
    elif kind == "reaction":
        if history is not None:
            reactions = history["messages"][data["message"]]["reactions"]
            who = [u for u in reactions.get(data["emoji"], []) if u != data["user"]]
            if data["on"]:
                who.append(data["user"])
            if who:
                reactions[data["emoji"]] = who
            else:
                reactions.pop(data["emoji"], None)
    elif kind == "read":
        if data["user"] == me:
            room["last_read_message_id"] = data["message"]
        if history is not None:
            history["reads"][data["user"]] = data["message"]
    return s


def reduce(state: State, me: int, events: list[dict[str, Any]]) -> State:
    for event in events:
        state = apply(state, me, event)
    return state


# -- what is compared ---------------------------------------------------------------------------


def normal_message(m: dict[str, Any]) -> dict[str, Any]:
    return {**m, "reactions": {e: sorted(u) for e, u in m["reactions"].items()}}


def derive(state: State, me: int) -> State:
    """Fill in what the client computes from the history it holds."""
    s = copy.deepcopy(state)
    for rid, history in s["held"].items():
        messages = history["messages"]
        for m in messages.values():
            replies = [r for r in messages.values() if r["thread"] == m["id"] and not r["deleted"]]
            m["reply_count"] = len(replies)
            m["last_reply_at"] = max((r["created_at"] for r in replies), default=None)
        room = s["rooms"][rid]
        marker = room["last_read_message_id"] or 0
        timeline = [m["id"] for m in messages.values() if m["thread"] is None]
        room["last_message_id"] = max(timeline, default=None)
        fresh = [
            m
            for m in messages.values()
            if m["id"] > marker and not m["deleted"] and m["author"] != me
        ]
        room["unread"] = sum(1 for m in fresh if m["thread"] is None)
        room["mentions"] = sum(1 for m in fresh if me in m["mentions"] or m["mention_room"])
    return s


def shape(state: State) -> dict[int, tuple[str, ...]]:
    """Which fields of each room the client can know from snapshot + events."""
    out: dict[int, tuple[str, ...]] = {}
    for rid in state["rooms"]:
        if rid in state["partial"]:
            out[rid] = STRUCTURAL
        elif rid in state["held"]:
            out[rid] = STRUCTURAL + POSITIONS + COUNTS
        else:
            out[rid] = STRUCTURAL + POSITIONS
    return out


def view(state: State, fields: dict[int, tuple[str, ...]]) -> dict[str, Any]:
    rooms = {
        rid: {
            f: (sorted(room[f]) if f == "members" else room[f])
            for f in fields.get(rid, STRUCTURAL + POSITIONS + COUNTS)
        }
        for rid, room in state["rooms"].items()
    }
    held = {
        rid: {
            "messages": {mid: normal_message(m) for mid, m in h["messages"].items()},
            "reads": h["reads"],
        }
        for rid, h in state["held"].items()
        if rid not in state["partial"]
    }
    return {"rooms": rooms, "held": held}


async def verify(
    client: Client, snapshot: State, events: list[dict[str, Any]], fresh: State | None = None
) -> State:
    """Fold `events` into `snapshot`; it must equal a fresh fetch. Returns the fetch."""
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(set(seqs)), "events arrive once each, in increasing seq order"
    reduced = derive(reduce(snapshot, client.id, events), client.id)
    if fresh is None:
        fresh = await fetch(client, set(reduced["held"]))
    fields = shape(reduced)
    assert set(fresh["rooms"]) == set(reduced["rooms"])
    assert view(reduced, fields) == view(fresh, fields)
    return fresh


def events_of(sock: Socket) -> list[dict[str, Any]]:
    return sorted((f for f in sock.frames if f.get("type") == "event"), key=lambda f: f["seq"])


# -- the scenario -------------------------------------------------------------------------------


async def test_events_applied_to_a_snapshot_match_a_fresh_fetch(make_user: UserFactory) -> None:
    alice, bob, carol, dave = [await make_user(p) for p in ("alice", "bob", "carol", "dave")]
    users = [alice, bob, carol, dave]
    general = next(r for r in (await alice.get("/api/rooms"))["rooms"] if r["kind"] == "channel")
    for u in users:
        assert general["id"] in {r["id"] for r in (await u.get("/api/rooms"))["rooms"]}

    # Some history before the snapshot: a private room with a thread, reactions and reads,
    # and a channel.
    p = await new_room(alice, bob, carol, kind="private", name="project")
    c = await new_room(alice, bob, kind="channel", name=f"chan-{uuid.uuid4().hex[:6]}")
    setup = await alice.connect()
    p1 = await setup.send_message(p["id"], "hello team")
    root = await setup.send_message(p["id"], "thread about the release")
    await setup.send_message(p["id"], f"first reply @{carol.user['username']}", thread=root["id"])
    await setup.ok({"type": "reaction.set", "message": p1["id"], "emoji": "👋", "on": True})
    await setup.ok({"type": "read.mark", "room": p["id"], "message": p1["id"]})
    c1 = await setup.send_message(c["id"], "channel opens")
    await setup.close()

    socks = {u.id: await u.connect() for u in users}
    a, b, cs, d = (socks[u.id] for u in users)
    since = {u.id: socks[u.id].hello_reply["data"]["head"] for u in users}
    assert len(set(since.values())) == 1  # nothing happened between the connections
    snapshots = {u.id: await fetch(u, {p["id"], c["id"]}) for u in users}

    # A burst of concurrent activity in the private room.
    sent = await asyncio.gather(
        a.send_message(p["id"], "@room plan for today"),
        b.send_message(p["id"], f"hi @{carol.user['username']}"),
        cs.send_message(p["id"], "reply from carol", thread=root["id"]),
        b.send_message(p["id"], "bob in the thread", thread=root["id"]),
        cs.ok({"type": "read.mark", "room": p["id"], "message": root["id"]}),
        b.ok({"type": "reaction.set", "message": p1["id"], "emoji": "👍", "on": True}),
        a.ok({"type": "reaction.set", "message": p1["id"], "emoji": "👋", "on": False}),
    )
    plan, hi_carol, carol_reply, bob_reply = sent[:4]
    await asyncio.gather(
        cs.ok({"type": "reaction.set", "message": root["id"], "emoji": "🎉", "on": True}),
        b.ok({"type": "reaction.set", "message": hi_carol["id"], "emoji": "👀", "on": True}),
        a.ok(
            {
                "type": "message.edit",
                "message": plan["id"],
                "body": f"plan for today, @{bob.user['username']}",
            }
        ),
        b.ok({"type": "read.mark", "room": p["id"], "message": plan["id"]}),
    )
    # Deletes: the owner removes bob's message (with its reaction and mention); carol her reply.
    await asyncio.gather(
        a.ok({"type": "message.delete", "message": hi_carol["id"]}),
        cs.ok({"type": "message.delete", "message": carol_reply["id"]}),
        b.ok({"type": "read.mark", "room": p["id"], "message": p1["id"]}),  # backwards: no-op
    )
    status, _ = await alice.call("PATCH", f"/api/rooms/{p['id']}", {"name": "project-x"})
    assert status == 200
    status, _ = await alice.call("PATCH", f"/api/rooms/{c['id']}", {"topic": "all hands"})
    assert status == 200
    await b.ok({"type": "message.edit", "message": bob_reply["id"], "body": "bob, edited"})

    # Membership: dave joins the channel and talks; bob leaves it; dave is added to the room.
    await dave.post(f"/api/rooms/{c['id']}/join")
    hi_all = await d.send_message(c["id"], "hi all")
    await asyncio.gather(
        b.ok({"type": "reaction.set", "message": hi_all["id"], "emoji": "👋", "on": True}),
        a.ok({"type": "read.mark", "room": c["id"], "message": hi_all["id"]}),
        b.ok({"type": "read.mark", "room": c["id"], "message": c1["id"]}),
    )
    await bob.post(f"/api/rooms/{c['id']}/leave", expect=204)
    await a.send_message(c["id"], "after bob left")
    await alice.post(f"/api/rooms/{p['id']}/members", {"user_ids": [dave.id]})
    await d.send_message(p["id"], "dave arrives")

    # A room made after the snapshot, with a thread and a rename.
    n = await new_room(bob, carol, kind="private", name="side")
    n_root = await b.send_message(n["id"], f"@{carol.user['username']} a side thread")
    await asyncio.gather(
        cs.send_message(n["id"], "sure", thread=n_root["id"]),
        cs.ok({"type": "reaction.set", "message": n_root["id"], "emoji": "✅", "on": True}),
        b.send_message(n["id"], "@room meeting"),
    )
    await cs.ok({"type": "read.mark", "room": n["id"], "message": n_root["id"]})
    status, _ = await bob.call("PATCH", f"/api/rooms/{n['id']}", {"name": "side-project"})
    assert status == 200

    # The marker: every socket has everything once it has this (events arrive in seq order).
    await a.send_message(general["id"], f"marker {uuid.uuid4().hex}")
    live: dict[int, list[dict[str, Any]]] = {}
    for u in users:
        marker = await socks[u.id].event("message.new", room=general["id"])
        live[u.id] = [*events_of(socks[u.id]), marker]

    for u in users:
        fresh = await verify(u, snapshots[u.id], live[u.id])
        # Resuming from the snapshot's seq replays a stream that folds to the same state.
        resumed = await u.connect(since=since[u.id])
        head = resumed.hello_reply["data"]["head"]
        replayed = [e for e in events_of(resumed) if e["seq"] <= head]
        await verify(u, snapshots[u.id], replayed, fresh)

    # Alice's and carol's memberships did not change under them: replay is the live stream.
    for u in (alice, carol):
        replayed = [e["seq"] for e in events_of(u.sockets[-1])]
        assert replayed == [e["seq"] for e in live[u.id]]
    # The scenario did exercise what it claims to.
    kinds = {e["kind"] for e in live[bob.id]}
    assert kinds >= ROOM_KINDS, ROOM_KINDS - kinds
    final = derive(reduce(snapshots[carol.id], carol.id, live[carol.id]), carol.id)
    assert final["held"][p["id"]]["messages"][root["id"]]["reply_count"] == 2
    assert final["rooms"][n["id"]]["name"] == "side-project"
    assert final["rooms"][p["id"]]["name"] == "project-x"
    assert dave.id in final["rooms"][p["id"]]["members"]
    assert c["id"] not in derive(reduce(snapshots[bob.id], bob.id, live[bob.id]), bob.id)["rooms"]
