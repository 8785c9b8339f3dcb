"""Several `pychat serve` nodes on one PostgreSQL and one Redis: one chat.

People connected to different nodes see each other's messages and reactions live, in the
log's one order; a node killed mid-traffic (kill -9) loses no acknowledged message, and its
people, reconnecting to another node with the last seq they saw, get exactly what they
missed, once and in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from tests.client import WAIT, Client, Socket
from tests.cluster.serving import Frame, NodeFactory, make_people, two_nodes_apart
from tests.conftest import USER_PASSWORD, new_room
from tests.engines import HAProxy
from tests.integration.uploading import fetch, upload
from tests.presence import listed_online, went
from tests.server import Server


def messages_in(frames: list[Frame], room: int) -> list[Frame]:
    return [
        f
        for f in frames
        if f.get("type") == "event" and f.get("kind") == "message.new" and f.get("room") == room
    ]


async def seen_message(sock: Socket, message_id: int) -> Frame:
    return await sock.wait_for(
        lambda f: f.get("kind") == "message.new" and f["data"]["message"]["id"] == message_id
    )


async def test_people_on_different_nodes_chat_and_react_live(
    nodes: NodeFactory, people: Callable[[Server, str], Any]
) -> None:
    _, _, alice, bob, room = await two_nodes_apart(nodes, people, "plans")
    a, b = await alice.connect(), await bob.connect()

    sent = await a.send_message(room["id"], "hello from node A")
    got = await seen_message(b, sent["id"])
    assert got["data"]["message"] == sent

    reply = await b.send_message(room["id"], "hello back from node B")
    assert (await seen_message(a, reply["id"]))["data"]["message"] == reply
    await b.ok({"type": "reaction.set", "message": sent["id"], "emoji": "👍", "on": True})
    reacted = await a.event("reaction")
    assert reacted["data"] == {"message": sent["id"], "user": bob.id, "emoji": "👍", "on": True}

    # A file sent through node A is there for bob through node B (the shared folder).
    picture = b"GIF89a" + bytes(range(256)) * 8
    attached = await upload(alice, picture, name="plan.bin")
    with_file = await a.send_message(room["id"], "the plan", attachments=[attached["id"]])
    got_file = (await seen_message(b, with_file["id"]))["data"]["message"]["attachments"][0]
    status, body, _ = await fetch(bob, got_file["url"])
    assert (status, body) == (200, picture)

    # One log, one order: both sockets saw the same events at the same positions.
    for sock in (a, b):
        mine = [(f["seq"], f["kind"]) for f in sock.events() if f.get("room") == room["id"]]
        assert mine == sorted(mine)
    a_seqs = {f["seq"]: f["kind"] for f in a.events() if f.get("room") == room["id"]}
    b_seqs = {f["seq"]: f["kind"] for f in b.events() if f.get("room") == room["id"]}
    common = set(a_seqs) & set(b_seqs)
    assert {s: a_seqs[s] for s in common} == {s: b_seqs[s] for s in common}
    assert reacted["seq"] in b_seqs  # bob's own reaction came back to him too


async def test_a_node_killed_mid_traffic_loses_nothing_acknowledged(
    nodes: NodeFactory, people: Callable[[Server, str], Any]
) -> None:
    a_node, b_node, alice, bob, room = await two_nodes_apart(nodes, people, "busy")
    rid = room["id"]
    a, b = await alice.connect(), await bob.connect()

    acked: list[Frame] = []

    async def keep_sending() -> None:
        for i in range(10_000):
            acked.append(await a.send_message(room["id"], f"message {i}"))

    sender = asyncio.create_task(keep_sending())
    await b.until(lambda: len(messages_in(b.frames, room["id"])) >= 20)
    assert a_node.proc is not None
    a_node.kill()  # kill -9, mid-send
    with pytest.raises(Exception):  # noqa: B017 - the socket's end, however it shows
        await asyncio.wait_for(sender, WAIT)
    last_seen = max(int(f["seq"]) for f in a.events())
    assert acked, "alice's node acknowledged nothing before it died"

    # Alice comes back through the node still up, from the last seq she saw.
    again = await people(b_node, alice.user["username"])
    back = await again.connect(since=last_seen)
    assert "resync" not in back.hello_reply["data"]
    replayed = messages_in(back.events(), room["id"])
    seen_before = messages_in(a.events(), room["id"])
    everything = [f["data"]["message"]["id"] for f in seen_before + replayed]
    assert len(everything) == len(set(everything)), "an event came twice"
    assert {m["id"] for m in acked} <= set(everything), "an acknowledged message is missing"
    replay_seqs = [int(f["seq"]) for f in back.events()]
    assert replay_seqs == sorted(set(replay_seqs)) and all(s > last_seen for s in replay_seqs)

    # Bob, on the node that stayed up, saw every acknowledged message, once, in order.
    last_id = acked[-1]["id"]
    await b.until(
        lambda: any(
            f["data"]["message"]["id"] >= last_id for f in messages_in(b.frames, room["id"])
        )
    )
    bob_ids = [f["data"]["message"]["id"] for f in messages_in(b.frames, rid)]
    assert bob_ids == sorted(set(bob_ids))
    assert {m["id"] for m in acked} <= set(bob_ids)


async def test_typing_and_presence_cross_nodes(
    nodes: NodeFactory, people: Callable[[Server, str], Any]
) -> None:
    _, b_node, alice, bob, room = await two_nodes_apart(nodes, people, "quiet")
    b = await bob.connect()

    a = await alice.connect()  # on the other node
    await b.wait_for(went(alice.id, True))
    assert await listed_online(bob, alice.id)  # node B's answer, not only its frames

    await a.send({"type": "typing", "room": room["id"]})
    typing = await b.wait_for(lambda f: f.get("type") == "typing")
    assert typing == {"type": "typing", "room": room["id"], "user": alice.id}

    # Alice also opens the app through node B, then leaves node A: still online.
    again = await people(b_node, alice.user["username"])
    also = await again.connect()
    await a.close()
    sent = await also.send_message(room["id"], "moved to the other node")
    await seen_message(b, sent["id"])
    assert await listed_online(bob, alice.id)
    assert not any(went(alice.id, False)(f) for f in b.frames)

    await also.close()
    await b.wait_for(went(alice.id, False))
    assert not await listed_online(bob, alice.id)


class Reconnecting:
    """A client as the web app is one: when its socket drops it connects again (through the
    balancer, to whichever node is up) from the last seq it saw, and a message whose send
    was not answered is sent again with the same client_id."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.sockets: list[Socket] = []

    @property
    def events(self) -> list[Frame]:
        return [f for sock in self.sockets for f in sock.events()]

    async def socket(self) -> Socket:
        if not self.sockets or self.sockets[-1].closed.is_set():
            seqs = [int(f["seq"]) for f in self.events]
            since = max(seqs) if seqs else None
            self.sockets.append(await self.client.connect(since=since))
        return self.sockets[-1]

    async def send(self, room: int, body: str) -> Frame:
        client_id = uuid.uuid4().hex
        for _ in range(5):
            sock = await self.socket()
            try:
                return await sock.send_message(room, body, client_id=client_id)
            except (ConnectionError, TimeoutError, aiohttp.ClientError):
                await sock.closed.wait()
        raise AssertionError(f"{body!r} was never acknowledged")


async def test_behind_haproxy_a_killed_node_s_people_come_back_through_another(
    nodes: NodeFactory,
) -> None:
    first, second = nodes(), nodes()
    with HAProxy([first.port, second.port], balance="first") as balancer:
        alice_name, bob_name = await make_people(first, "alice", "bob")
        alice = Reconnecting(await Client(balancer.url).login(alice_name, USER_PASSWORD))
        bob = Reconnecting(await Client(balancer.url).login(bob_name, USER_PASSWORD))
        try:
            room = await new_room(alice.client, bob.client, name="through the balancer")
            rid = room["id"]
            await bob.socket()
            acked = [await alice.send(rid, f"before {i}") for i in range(20)]
            first.kill()  # it held both of them (balance first), mid-conversation
            acked += [await alice.send(rid, f"after {i}") for i in range(20)]

            last_id = acked[-1]["id"]

            def has_last(frames: list[Frame]) -> bool:
                return any(m["data"]["message"]["id"] == last_id for m in messages_in(frames, rid))

            while not has_last(bob.events):
                sock = await bob.socket()  # again after a drop, from the last seq seen
                with contextlib.suppress(ConnectionError):
                    await sock.until(lambda s=sock: has_last(s.frames))  # type: ignore[misc]
            for person in (alice, bob):
                assert len(person.sockets) > 1, "the killed node held nobody"
                ids = [m["data"]["message"]["id"] for m in messages_in(person.events, rid)]
                seqs = [int(f["seq"]) for f in person.events]
                assert seqs == sorted(set(seqs)), "an event twice, or out of order"
                assert ids == sorted(set(ids))
                assert {m["id"] for m in acked} <= set(ids), "an acknowledged message is missing"
        finally:
            await alice.client.close()
            await bob.client.close()


async def test_password_guesses_are_counted_by_every_node_together(nodes: NodeFactory) -> None:
    """Spread over two nodes, guesses at one account still stop at the limit (10 per
    username by default), not at twice it; the right password then waits too."""
    first, second = nodes(), nodes()
    (victim,) = await make_people(first, "victim")
    guesser = {node.url: Client(node.url) for node in (first, second)}
    try:
        statuses = []
        for i in range(12):
            client = guesser[(first, second)[i % 2].url]
            status, body = await client.call(
                "POST", "/api/auth/login", {"username": victim, "password": f"guess-{i}"}
            )
            statuses.append(status)
        assert statuses == [401] * 10 + [429] * 2, statuses
        status, body = await guesser[second.url].call(
            "POST", "/api/auth/login", {"username": victim, "password": USER_PASSWORD}
        )
        assert status == 429 and body["error"]["code"] == "rate_limited", body
    finally:
        for client in guesser.values():
            await client.close()
