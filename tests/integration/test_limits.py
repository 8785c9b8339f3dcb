"""Limits that keep one user (or one broken client) from hurting everyone else.

These tests run against servers of their own with tight settings (never the shared one);
a tripped limit answers with a clear error and leaves the socket, the server and other
users working.
"""

from __future__ import annotations

import asyncio
import json
import math
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.client import WAIT, Client, Socket
from tests.conftest import TEST_ENV, People, new_room, people_on
from tests.server import Server, init_data
from tests.waiting import wait_until

Frame = dict[str, Any]

TIGHT = {
    "PYCHAT_LIMITS_SEND_PER_SECOND": "2",
    "PYCHAT_LIMITS_SEND_BURST": "3",
    "PYCHAT_LIMITS_MESSAGE_CHARS": "100",
    "PYCHAT_LIMITS_FRAME_BYTES": "1024",
}


@pytest.fixture(scope="module")
def tight(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server with tight send and size limits, shared by this module's tests."""
    data = tmp_path_factory.mktemp("tight")
    init_data(data)
    srv = Server(data, env={**TEST_ENV, **TIGHT}).start()
    yield srv
    srv.stop()


@pytest.fixture
async def people(tight: Server) -> AsyncIterator[People]:
    async for make in people_on(tight.url):
        yield make


async def dismiss(*tasks: asyncio.Future[Any]) -> None:
    """Cancel helper tasks and collect their outcomes, so none is left unretrieved."""
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def pong(sock: Socket) -> None:
    await sock.send({"type": "ping"})
    await sock.wait_for(lambda f: f.get("type") == "pong")


def send_frame(room: int, body: str, client_id: str | None = None) -> Frame:
    return {
        "type": "message.send",
        "room": room,
        "body": body,
        "client_id": client_id or uuid.uuid4().hex,
    }


# -- send rate ---------------------------------------------------------------------------


async def test_sending_too_fast_is_refused_and_the_socket_keeps_working(people: People) -> None:
    alice, bob = await people("alice"), await people("bob")
    room = await new_room(alice, bob)
    a, b = await alice.connect(), await bob.connect()
    frames = [send_frame(room["id"], f"quick {i}") for i in range(4)]

    # Burst 3: four sends checked in the same instant cannot all pass.
    replies = await asyncio.gather(*(a.request(f) for f in frames))

    refused = [(f, r) for f, r in zip(frames, replies, strict=True) if not r["ok"]]
    assert len(refused) == 1, replies
    frame, reply = refused[0]
    assert reply["error"]["code"] == "rate_limited" and reply["error"]["message"]
    await pong(a)  # the socket is still open and answering
    assert (await b.send_message(room["id"], "bob is not limited"))["author"] == bob.id

    # Once the bucket refills, the same send goes through (2 tokens a second).
    async def sent() -> dict[str, Any] | None:
        retry = await a.request(frame)
        assert retry["ok"] or retry["error"]["code"] == "rate_limited", retry
        return retry if retry["ok"] else None

    retry = await wait_until(sent, what="the send bucket refills")
    assert retry["data"]["message"]["client_id"] == frame["client_id"]
    stored = await alice.get(f"/api/rooms/{room['id']}/messages")
    bodies = sorted(m["body"] for m in stored["messages"])
    assert bodies == sorted([f"quick {i}" for i in range(4)] + ["bob is not limited"])


# -- sizes -------------------------------------------------------------------------------


async def test_a_message_longer_than_the_limit_is_too_large(people: People) -> None:
    alice = await people("alice")
    room = await new_room(alice)
    a = await alice.connect()

    error = await a.error(send_frame(room["id"], "x" * 101))
    assert error["code"] == "too_large" and error["message"]
    longest = await a.send_message(room["id"], "y" * 100)  # exactly the limit is fine
    assert longest["body"] == "y" * 100
    stored = await alice.get(f"/api/rooms/{room['id']}/messages")
    assert [m["body"] for m in stored["messages"]] == ["y" * 100]


async def test_a_frame_over_the_byte_limit_gets_too_large_and_the_socket_stays(
    people: People,
) -> None:
    alice = await people("alice")
    room = await new_room(alice)
    a = await alice.connect()
    big = {**send_frame(room["id"], "z" * 80), "req": "too-big", "padding": "p" * 1100}
    assert 1024 < len(json.dumps(big)) < 4096

    reply = await send_raw(a, json.dumps(big), "too-big")

    assert reply["ok"] is False and reply["error"]["code"] == "too_large", reply
    assert reply["error"]["message"]
    await pong(a)
    sent = await a.send_message(room["id"], "still here")
    assert sent["body"] == "still here"
    # The protocol: every frame that carries `req` is answered by a reply carrying it.
    assert reply["req"] == "too-big", reply


async def test_the_frame_limit_counts_bytes_not_characters(people: People) -> None:
    alice = await people("alice")
    a = await alice.connect()
    wide = json.dumps({"type": "ping", "req": "wide", "padding": "€" * 600}, ensure_ascii=False)
    assert len(wide) < 1024 < len(wide.encode())

    reply = await send_raw(a, wide, "wide")

    assert reply["ok"] is False and reply["error"]["code"] == "too_large", reply
    await pong(a)


async def send_raw(sock: Socket, raw: str, req: str) -> Frame:
    """Send `raw` (which carries `req`); its reply, also when the server could not read
    `req` and answered with `"req": null`."""
    fut: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
    sock.replies[req] = fut
    unmatched = asyncio.ensure_future(
        sock.wait_for(lambda f: f.get("type") == "reply" and f.get("req") is None)
    )
    try:
        await sock.ws.send_str(raw)
        await asyncio.wait([fut, unmatched], timeout=WAIT, return_when=asyncio.FIRST_COMPLETED)
        assert fut.done() or unmatched.done(), "no reply"
        return fut.result() if fut.done() else unmatched.result()
    finally:
        sock.replies.pop(req, None)
        await dismiss(unmatched)


async def test_a_frame_far_over_the_limit_closes_only_that_socket(people: People) -> None:
    alice, bob, carol = await people("alice"), await people("bob"), await people("carol")
    room = await new_room(alice, bob, carol)
    a, b, c = await alice.connect(), await bob.connect(), await carol.connect()
    tab2 = await alice.connect()

    await a.ws.send_str(json.dumps({"type": "ping", "padding": "p" * 5000}))  # > 4 × 1024
    await asyncio.wait_for(a.closed.wait(), WAIT)

    assert a.close_code == 1009  # message too big
    sent = await c.send_message(room["id"], "carol carries on")
    assert (await b.event("message.new", room=room["id"]))["data"]["message"] == sent
    assert (await tab2.event("message.new", room=room["id"]))["data"]["message"] == sent
    again = await alice.connect()
    assert (await again.send_message(room["id"], "alice is back"))["author"] == alice.id
    health = await bob.get("/api/health")
    assert health["status"] == "ok"


# -- connection caps ---------------------------------------------------------------------


async def handshake_status(client: Client) -> int:
    try:
        ws = await client.http.ws_connect(client.base_url + "/api/ws")
    except aiohttp.WSServerHandshakeError as e:
        return e.status
    await ws.close()
    return 101


async def test_websockets_are_capped_per_address_and_per_user(
    make_server: Callable[..., Server],
) -> None:
    srv = make_server({"PYCHAT_LIMITS_WS_PER_IP": "3", "PYCHAT_LIMITS_WS_PER_USER": "2"})
    async for make in people_on(srv.url):
        alice, bob = await make("alice"), await make("bob")
        a1, _a2 = await alice.connect(), await alice.connect()
        assert await handshake_status(alice) == 429  # per user: 2

        b1 = await bob.connect()  # the third socket from this address
        assert await handshake_status(bob) == 429  # per address: 3
        status, body = await bob.call(
            "GET",
            "/api/ws",
            headers={
                "Connection": "Upgrade",
                "Upgrade": "websocket",
                "Sec-WebSocket-Version": "13",
                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            },
        )
        assert status == 429 and body["error"]["code"] == "rate_limited", body
        assert (await bob.get("/api/me"))["user"]["id"] == bob.id  # REST is not capped

        # Closing a socket frees its slot (once the server has seen bob go offline).
        await b1.close()
        await a1.wait_for(lambda f, bob_id=bob.id: went_offline(f, bob_id))
        b2 = await bob.connect()
        await pong(b2)


def went_offline(frame: Frame, user_id: int) -> bool:
    if frame.get("type") == "presence":
        items = [frame]
    elif frame.get("type") == "presence.batch":
        items = list(frame.get("users", []))
    else:
        return False
    return any(p.get("user") == user_id and p.get("online") is False for p in items)


# -- slow consumers ----------------------------------------------------------------------


def small_receive_buffer(addr_info: Any) -> socket.socket:
    """A client socket with a tiny receive window, so a client that stops reading stalls
    the server's writes quickly."""
    family, kind, proto, _, _ = addr_info
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    return sock


def kernel_send_buffer_max() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
    except (OSError, IndexError, ValueError):
        return 4 << 20


async def hello(sock: Socket, since: int | None) -> Frame:
    """Send hello; the reply, or a failure if the server closes the socket instead."""
    reply = asyncio.ensure_future(sock.request({"type": "hello", "since": since}))
    closed = asyncio.ensure_future(sock.closed.wait())
    try:
        await asyncio.wait([reply, closed], timeout=WAIT, return_when=asyncio.FIRST_COMPLETED)
        assert reply.done(), f"no reply to hello (socket closed: {sock.close_code})"
        return reply.result()
    finally:
        await dismiss(reply, closed)


async def test_a_client_that_stops_reading_is_dropped_and_can_catch_up(
    make_server: Callable[..., Server],
) -> None:
    send_buffer = 65536
    srv = make_server(
        {"PYCHAT_WS_SEND_BUFFER_BYTES": str(send_buffer), "PYCHAT_LIMITS_MESSAGE_CHARS": "60000"}
    )
    async for make in people_on(srv.url):
        alice, bob, carol = await make("alice"), await make("bob"), await make("carol")
        room = await new_room(alice, bob, carol)
        rid = room["id"]
        a, b = await alice.connect(), await bob.connect()
        stalled = aiohttp.ClientSession(
            cookie_jar=carol.http.cookie_jar,
            connector=aiohttp.TCPConnector(socket_factory=small_receive_buffer),
        )
        try:
            slow = await stalled.ws_connect(srv.ws_url)
            await slow.send_str(json.dumps({"type": "hello", "since": None, "req": "h"}))
            first = json.loads((await slow.receive(timeout=WAIT)).data)
            assert first.get("req") == "h" and first["ok"], first
            head = int(first["data"]["head"])
            # carol stops reading. Send more than every buffer between her and the server
            # can hold (kernel send buffer, a few MB of slack, and her send buffer).
            body = "x" * 59_000
            slack = kernel_send_buffer_max() + (4 << 20) + 2 * send_buffer
            count = math.ceil(slack / len(body))
            sent: list[Frame] = []
            for start in range(0, count, 4):
                batch = range(start, min(start + 4, count))
                sent += await asyncio.gather(*(a.send_message(rid, f"{i} {body}") for i in batch))
                for i in batch:  # bob keeps up the whole time
                    got = await b.event("message.new", room=rid)
                    assert got["data"]["message"]["body"].startswith(f"{i} ")

            # carol wakes up: she finds what was buffered for her, then a 4008 close.
            received: list[Frame] = []
            while True:
                msg = await slow.receive(timeout=WAIT)
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                frame = json.loads(msg.data)
                if frame.get("type") == "event":
                    received.append(frame)
            assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), msg
            assert slow.close_code == 4008
        finally:
            await stalled.close()

        got_ids = [e["data"]["message"]["id"] for e in received if e["kind"] == "message.new"]
        sent_ids = [m["id"] for m in sent]
        assert got_ids == sent_ids[: len(got_ids)] and len(got_ids) < len(sent_ids)
        last = max([head, *(e["seq"] for e in received)])

        # Reconnect and resume: the rest arrives, in order, once; then live again.
        ws = await carol.http.ws_connect(srv.ws_url)
        back = Socket(ws)
        carol.sockets.append(back)
        reply = await hello(back, last)
        assert reply["ok"] and "resync" not in reply["data"], reply
        rest = [e["data"]["message"]["id"] for e in back.events() if e["kind"] == "message.new"]
        assert rest == sent_ids[len(got_ids) :]
        live = await b.send_message(rid, "welcome back, carol")
        got = await back.wait_for(
            lambda f, live_id=live["id"]: (
                f.get("kind") == "message.new" and f["data"]["message"]["id"] == live_id
            )
        )
        assert got["data"]["message"] == live
