"""A search index that FTS5 finds corrupt while the server runs (issue 19: SQLite 3.40 broke
it under a long soak, and every send failed from then on) is rebuilt from the messages by
the server itself: the send that found it is acknowledged, search finds every message,
nothing is lost, and the log and the admin's storage page say what happened."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable

from tests.client import Client
from tests.conftest import new_room
from tests.integration.test_messages import search
from tests.search_index import break_search_index
from tests.server import ADMIN_PASSWORD, Server
from tests.waiting import wait_until

REBUILT = "the search index was rebuilt"


async def rebuilds_logged(srv: Server) -> int:
    """The rebuilds the server's log tells of, once it tells of one: the log comes through a
    pipe and may trail the answer that followed it (CI, two test runs at once)."""
    await wait_until(lambda: REBUILT in srv.log(), what="the rebuild logged", explain=srv.log)
    return srv.log().count(REBUILT)


async def _broken_after_messages(
    make_server: Callable[..., Server],
) -> tuple[Server, Client, int, list[int]]:
    """A server whose room has 20 messages, all found, and then a broken search index."""
    srv = make_server()
    admin = await Client(srv.url).login("admin", ADMIN_PASSWORD)
    room = (await new_room(admin))["id"]
    sock = await admin.connect()
    sent = [(await sock.send_message(room, f"deploy step {n}"))["id"] for n in range(20)]
    assert await search(admin, "deploy") == sent
    assert (await admin.get("/api/admin/storage"))["search_index"] == {
        "rebuilds": 0,
        "last_rebuilt_at": None,
    }
    break_search_index(srv.data / "pychat.db")
    return srv, admin, room, sent


async def test_a_send_on_a_corrupt_index_is_acknowledged_and_found(
    make_server: Callable[..., Server],
) -> None:
    srv, admin, room, sent = await _broken_after_messages(make_server)
    try:
        sock = await admin.connect()
        after = await sock.send_message(room, "deploy after the break")
        await sock.ok({"type": "message.edit", "message": sent[0], "body": "rollback step 0"})

        assert await search(admin, "deploy") == [*sent[1:], after["id"]]
        assert await search(admin, "rollback") == [sent[0]]
        assert await rebuilds_logged(srv) == 1, srv.log()
        # The admin's storage page says so (since the server started).
        repairs = (await admin.get("/api/admin/storage"))["search_index"]
        assert repairs["rebuilds"] == 1 and repairs["last_rebuilt_at"] > 0, repairs
    finally:
        await admin.close()
    # Restarted, the index is sound: nothing is rebuilt again, search still finds it all.
    srv.stop()
    srv.start()
    admin = await Client(srv.url).login("admin", ADMIN_PASSWORD)
    try:
        assert await search(admin, "deploy") == [*sent[1:], after["id"]]
        assert REBUILT not in srv.log()
    finally:
        await admin.close()


async def test_searches_on_a_corrupt_index_answer_from_one_rebuild(
    make_server: Callable[..., Server],
) -> None:
    srv, admin, room, sent = await _broken_after_messages(make_server)
    try:
        found = await asyncio.gather(*(search(admin, "deploy") for _ in range(6)))
        assert found == [sent] * 6
        assert await rebuilds_logged(srv) == 1, srv.log()

        # Broken again at once: not this bug but a disk going bad. The send gets an error
        # (no rebuild in a loop) and nothing half-written stays; the index is not touched.
        break_search_index(srv.data / "pychat.db")
        sock = await admin.connect()
        error = await sock.error(
            {"type": "message.send", "room": room, "body": "deploy 2", "client_id": "c-again"}
        )
        assert error["code"] == "internal_error", error
        assert await rebuilds_logged(srv) == 1, srv.log()
        with sqlite3.connect(srv.data / "pychat.db") as conn:
            (count,) = conn.execute("SELECT count(*) FROM messages WHERE room_id = ?", (room,))
            assert count[0] == len(sent)
    finally:
        await admin.close()
