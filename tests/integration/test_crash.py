"""kill -9 in the middle of a burst of sends: nothing acknowledged is lost or doubled.

A reply to `message.send` comes only after the message is durable (design.md §2). So after
the process is killed and started again on the same data directory, every acknowledged
message is there exactly once, nothing unacknowledged is there twice, and the event log
carries on from where it was.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

from tests.client import WAIT, Client, Socket
from tests.conftest import USER_PASSWORD, new_room
from tests.server import ADMIN_PASSWORD, Server

Frame = dict[str, Any]
SENDERS = 4
PER_SENDER = 150
KILL_AFTER = 100  # acknowledgements seen before the kill; the rest are still in flight
LAST_BURST = 10  # sends per sender written right before the kill


async def all_messages(client: Client, room_id: int) -> list[Frame]:
    """The room's whole history, oldest first."""
    found: list[Frame] = []
    before = ""
    while True:
        page = await client.get(f"/api/rooms/{room_id}/messages?limit=200{before}")
        found = page["messages"] + found
        if not page["has_more"]:
            return found
        before = f"&before={page['messages'][0]['id']}"


async def fire(sock: Socket, frame: Frame, req: str) -> asyncio.Future[Frame]:
    """Send without waiting for the reply: the future settles when (if) it arrives."""
    fut: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
    sock.replies[req] = fut
    await sock.send({**frame, "req": req})
    return fut


async def users(srv: Server, names: list[str]) -> list[Client]:
    admin = await Client(srv.url).login("admin", ADMIN_PASSWORD)
    try:
        for name in names:
            await admin.post(
                "/api/admin/users", {"username": name, "password": USER_PASSWORD}, expect=201
            )
    finally:
        await admin.close()
    return [await Client(srv.url).login(name, USER_PASSWORD) for name in names]


async def test_kill_9_during_a_burst_loses_no_acknowledged_message(
    make_server: Callable[..., Server],
) -> None:
    srv = make_server()  # synchronous=FULL, the default
    names = [f"sender{i}" for i in range(SENDERS)]
    clients = await users(srv, [*names, "watcher"])
    senders, watcher = clients[:SENDERS], clients[SENDERS]
    try:
        room = await new_room(senders[0], *senders[1:], watcher)
        rid = room["id"]
        watch = await watcher.connect()
        socks = [await c.connect() for c in senders]

        acked: dict[str, Frame] = {}  # client_id → the message its reply returned
        refused: list[Frame] = []
        enough = asyncio.Event()
        pending: dict[str, asyncio.Future[Frame]] = {}  # every send that went out

        def on_reply(cid: str, fut: asyncio.Future[Frame]) -> None:
            if fut.cancelled():
                return
            if fut.result().get("ok"):
                acked[cid] = fut.result()["data"]["message"]
            else:
                refused.append(fut.result())
            if len(acked) >= KILL_AFTER:
                enough.set()

        async def send(n: int, label: str) -> None:
            cid = f"crash-{n}-{label}"
            frame = {"type": "message.send", "room": rid, "body": f"{n}:{label}", "client_id": cid}
            fut = await fire(socks[n], frame, cid)
            fut.add_done_callback(lambda f: on_reply(cid, f))
            pending[cid] = fut

        for i in range(PER_SENDER):
            if enough.is_set():
                break
            for n in range(SENDERS):
                await send(n, str(i))
        await asyncio.wait_for(enough.wait(), WAIT)
        # A last burst written just before the kill: each needs its own durable commit, so
        # some are certainly unanswered when SIGKILL lands, however fast the server keeps up.
        for j in range(LAST_BURST):
            for n in range(SENDERS):
                await send(n, f"last-{j}")

        srv.kill()  # SIGKILL: no flush, no goodbye

        for sock in [watch, *socks]:
            await asyncio.wait_for(sock.closed.wait(), WAIT)
        assert refused == []
        in_flight = [cid for cid, fut in pending.items() if not fut.done()]
        assert in_flight, "every send finished before the kill: nothing was in flight"
        seen_before = [f for f in watch.frames if f.get("type") == "event"]
        last_seq = max(int(f["seq"]) for f in seen_before) if seen_before else 0

        srv.start()
        again = [await Client(srv.url).login(c.user["username"], USER_PASSWORD) for c in clients]
        clients += again
        watcher2 = again[SENDERS]

        stored = await all_messages(watcher2, rid)
        counts = Counter(m["client_id"] for m in stored)
        assert set(counts) <= set(pending)  # nothing appeared that nobody sent
        doubled = sorted(cid for cid, n in counts.items() if n > 1)
        assert doubled == []
        by_cid = {m["client_id"]: m for m in stored}
        lost = sorted(cid for cid in acked if cid not in by_cid)
        assert lost == [], f"{len(lost)} acknowledged messages were lost"
        for cid, message in acked.items():
            assert by_cid[cid]["id"] == message["id"] and by_cid[cid]["body"] == message["body"]

        # The event log: what the watcher missed comes back on hello, and seq goes on up.
        resumed = await watcher2.connect(since=last_seq)
        assert "resync" not in resumed.hello_reply["data"]
        replayed = [f for f in resumed.events() if f["kind"] == "message.new"]
        assert all(f["seq"] > last_seq for f in resumed.events())
        seen_ids = [
            f["data"]["message"]["id"]
            for f in seen_before + replayed
            if f["kind"] == "message.new" and f["room"] == rid
        ]
        assert seen_ids == [m["id"] for m in stored]  # every stored message once, in order
        sender2 = await again[0].connect()
        after = await sender2.send_message(rid, "after the crash")
        event = await resumed.wait_for(
            lambda f: f.get("kind") == "message.new" and f["data"]["message"]["id"] == after["id"]
        )
        assert event["seq"] > max([last_seq, *(f["seq"] for f in replayed)])
        assert event["seq"] > int(resumed.hello_reply["data"]["head"])

        # A retry of a send that was in flight stores it at most once, as the outbox would.
        retried = in_flight[0]
        n, i = retried.split("-", 2)[1:]  # crash-<sender>-<label>
        frame = {"type": "message.send", "room": rid, "body": f"{n}:{i}", "client_id": retried}
        sock_n = await again[int(n)].connect()
        message = (await sock_n.ok(frame))["message"]
        if retried in by_cid:
            assert message["id"] == by_cid[retried]["id"]
        final = Counter(m["client_id"] for m in await all_messages(watcher2, rid))
        assert final[retried] == 1
        # The stored messages, the one sent after the crash, and the retry if it was new.
        assert sum(final.values()) == len(stored) + 1 + (retried not in by_cid)
    finally:
        for client in clients:
            await client.close()
