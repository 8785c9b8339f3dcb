"""The board's limits: bad ops change nothing, fast drawers are slowed, a growing board is
folded without changing its picture, a full one refuses, and everything survives a restart."""

from __future__ import annotations

import base64
import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.client import Socket
from tests.conftest import UserFactory, new_room, people_on
from tests.integration.painter_helpers import open_board, stroke
from tests.server import Server

# Own servers draw fast; their tests of one limit must not trip the op rate.
RELAXED = {"PYCHAT_PAINTER_OPS_PER_SECOND": "100000", "PYCHAT_PAINTER_OPS_BURST": "100000"}


def stored_ops(data: Path, room: int) -> int:
    db = sqlite3.connect(data / "pychat.db")
    try:
        row = db.execute("SELECT count(*) FROM board_ops WHERE room_id = ?", (room,)).fetchone()
        return int(row[0])
    finally:
        db.close()


async def add(sock: Socket, room: int, op: dict[str, Any]) -> int:
    return int((await sock.ok({"type": "paint.op", "room": room, "op": op}))["seq"])


async def test_bad_ops_are_refused_and_change_nothing(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    room = (await new_room(alice))["id"]
    a = await alice.connect()
    await open_board(a, room)
    good = stroke(1, 1)
    await add(a, room, good)
    png = "data:image/png;base64," + base64.b64encode(b"\x89PNG fake").decode()
    bad: list[tuple[dict[str, Any], str]] = [
        ({**stroke(1, 1), "color": "red"}, "bad_request"),
        ({**stroke(1, 1), "color": "#FFFFFF"}, "bad_request"),
        ({**stroke(1, 1), "size": 0}, "bad_request"),
        ({**stroke(1, 1), "points": [1, 2, 3]}, "bad_request"),
        ({**stroke(1, 1), "points": [1, "2"]}, "bad_request"),
        ({**stroke(1, 1), "points": [1, 1e300]}, "bad_request"),
        ({**stroke(1, 1), "points": []}, "bad_request"),
        ({**stroke(1, 1), "points": [0] * 10002}, "too_large"),  # painter.max_points: 5000
        ({**stroke(1, 1), "extra": 1}, "bad_request"),
        ({**stroke(1, 1), "id": ""}, "bad_request"),
        ({"id": "k", "kind": "spray"}, "bad_request"),
        ({"id": "l", "kind": "line", "color": "#000000", "size": 1, "points": [1, 1]},
         "bad_request"),
        ({"id": "t", "kind": "text", "color": "#000000", "size": 12, "points": [0, 0],
          "text": "x" * 501}, "too_large"),
        ({"id": "t2", "kind": "text", "color": "#000000", "size": 12, "points": [0, 0],
          "text": "bell\x07"}, "bad_request"),
        ({"id": "i", "kind": "image", "points": [0, 0, 10, 10],
          "src": "data:image/svg+xml;base64,PHN2Zz4="}, "bad_request"),
        ({"id": "i2", "kind": "image", "points": [0, 0, 0, 10], "src": png}, "bad_request"),
        ({"id": "i3", "kind": "image", "points": [0, 0, 10, 10],
          "src": "data:image/png;base64," + "A" * 48000}, "too_large"),
        ("not an object", "bad_request"),
    ]  # fmt: skip
    for op, code in bad:
        error = await a.error({"type": "paint.op", "room": room, "op": op})
        assert error["code"] == code, (op, error)
        assert error["message"]
    # Pictures, text and shapes that are right are taken.
    image = {"id": "img", "kind": "image", "points": [5, 5, 40, 30], "src": png}
    text = {"id": "txt", "kind": "text", "color": "#000000", "size": 16, "points": [0, 0],
            "text": "Plan:\nship it"}  # fmt: skip
    rect = {"id": "r", "kind": "rect", "color": "#00aa00", "size": 2, "points": [0, 0, 9, 9],
            "fill": True}  # fmt: skip
    for op in (image, text, rect):
        await add(a, room, op)
    board = await open_board(await alice.connect(), room)
    assert [op["id"] for op in board["ops"]] == [good["id"], "img", "txt", "r"]
    assert board["seq"] == 4


async def test_a_socket_drawing_too_fast_is_slowed_down(
    make_server: Callable[..., Server],
) -> None:
    srv = make_server({"PYCHAT_PAINTER_OPS_PER_SECOND": "0.01", "PYCHAT_PAINTER_OPS_BURST": "3"})
    async for make in people_on(srv.url):
        alice = await make("alice")
        room = (await new_room(alice))["id"]
        a = await alice.connect()
        await open_board(a, room)
        for n in range(3):
            await add(a, room, stroke(n, n))
        error = await a.error({"type": "paint.op", "room": room, "op": stroke(9, 9)})
        assert error["code"] == "rate_limited"
        assert len((await open_board(await alice.connect(), room))["ops"]) == 3


async def test_a_growing_board_is_folded_and_a_full_one_takes_only_clear(
    make_server: Callable[..., Server],
) -> None:
    srv = make_server({**RELAXED, "PYCHAT_PAINTER_MAX_OPS": "100"})
    async for make in people_on(srv.url):
        alice = await make("alice")
        room = (await new_room(alice))["id"]
        a = await alice.connect()
        await open_board(a, room)
        strokes = [stroke(n, n) for n in range(60)]
        for op in strokes:
            await add(a, room, op)
        for op in strokes[:20]:  # 20 undone: 40 strokes show, 80 ops stored
            await add(a, room, {"id": uuid.uuid4().hex, "kind": "undo", "target": op["id"]})
        before = await open_board(await alice.connect(), room)
        assert len(before["ops"]) == 80
        more = [stroke(n, -n) for n in range(21)]
        for op in more:
            await add(a, room, op)
        # The 101st op folded the board: only what shows is left, seqs unchanged.
        after = await open_board(await alice.connect(), room)
        shown = [op["id"] for op in strokes[20:] + more]
        assert [op["id"] for op in after["ops"]] == shown
        assert after["seq"] == 101
        assert stored_ops(srv.data, room) == 61
        # Filled up with what shows, the board refuses more, except a clear.
        for n in range(39):
            await add(a, room, stroke(n, 1000))
        error = await a.error({"type": "paint.op", "room": room, "op": stroke(0, 0)})
        assert error["code"] == "too_large"
        await add(a, room, {"id": "wipe", "kind": "clear"})
        cleared = await open_board(await alice.connect(), room)
        assert cleared["ops"] == []
        assert stored_ops(srv.data, room) == 0
        assert await add(a, room, stroke(1, 1)) == cleared["seq"] + 1


async def test_the_board_survives_a_restart_and_pages_through_a_big_board(
    make_server: Callable[..., Server],
) -> None:
    srv = make_server({**RELAXED, "PYCHAT_WS_SEND_BUFFER_BYTES": "262144"})  # 64 KiB pages
    png = "data:image/png;base64," + "QUJD" * 10_000  # 40 KB each
    async for make in people_on(srv.url):
        alice = await make("alice")
        room = (await new_room(alice))["id"]
        a = await alice.connect()
        await open_board(a, room)
        ops = [{"id": f"img{n}", "kind": "image", "points": [n, n, 10, 10], "src": png}
               for n in range(8)]  # fmt: skip
        for op in ops:
            await add(a, room, op)
        await add(a, room, {"id": "wipe", "kind": "clear"})
        await add(a, room, {"id": "undo-wipe", "kind": "undo", "target": "wipe"})
        before = await open_board(await alice.connect(), room)
        await a.close()

        srv.stop()
        srv.start()  # on a new port; the session cookie still holds
        alice.base_url = srv.url
        sock = await alice.connect()
        first = await sock.ok({"type": "paint.open", "room": room})
        assert first["board"]["next"] is not None  # more than one page
        board = await open_board(sock, room)
        assert board["ops"] == before["ops"]
        assert board["seq"] == before["seq"] == 10


async def test_one_socket_opens_only_a_few_boards(make_user: UserFactory) -> None:
    alice = await make_user("alice")
    rooms = [(await new_room(alice))["id"] for _ in range(5)]
    a = await alice.connect()
    for room in rooms[:4]:
        await open_board(a, room)
    error = await a.error({"type": "paint.open", "room": rooms[4]})
    assert error["code"] == "too_large"
    await a.ok({"type": "paint.close", "room": rooms[0]})
    await open_board(a, rooms[4])
    await open_board(a, rooms[4])  # opening an open board again is fine


PNG_40K = "data:image/png;base64," + "QUJD" * 10_000  # about 41 KB counted in memory


def image(name: str) -> dict[str, Any]:
    return {"id": name, "kind": "image", "points": [0, 0, 9, 9], "src": PNG_40K}


async def test_the_server_holds_only_so_many_open_boards(
    make_server: Callable[..., Server],
) -> None:
    srv = make_server({**RELAXED, "PYCHAT_PAINTER_MEMORY_BYTES": "65536"})
    async for make in people_on(srv.url):
        alice, bob = await make("alice"), await make("bob")
        big, other = (await new_room(alice, bob))["id"], (await new_room(bob))["id"]
        a, b = await alice.connect(), await bob.connect()
        await open_board(a, big)
        await add(a, big, image("big"))
        await a.ok({"type": "paint.close", "room": big})  # out of memory again
        await open_board(b, other)
        await add(b, other, image("other"))
        # Loading the big board would take the boards held past 64 KiB: refused, while
        # the open one can still be viewed.
        assert (await a.error({"type": "paint.open", "room": big}))["code"] == "too_large"
        assert len((await open_board(await bob.connect(), other))["ops"]) == 1
        await b.ok({"type": "paint.close", "room": other})
        assert (await a.error({"type": "paint.open", "room": big}))["code"] == "too_large"
        await bob.sockets[-1].ok({"type": "paint.close", "room": other})
        assert len((await open_board(a, big))["ops"]) == 1


async def test_open_boards_cannot_grow_past_the_servers_memory_budget(
    make_server: Callable[..., Server],
) -> None:
    srv = make_server({**RELAXED, "PYCHAT_PAINTER_MEMORY_BYTES": "131072"})
    async for make in people_on(srv.url):
        alice, bob = await make("alice"), await make("bob")
        first, second = (await new_room(alice))["id"], (await new_room(bob))["id"]
        a, b = await alice.connect(), await bob.connect()
        # Both open while empty: opening was the only check, and it passed.
        await open_board(a, first)
        await open_board(b, second)
        for n in range(2):
            await add(a, first, image(f"a{n}"))
        await add(b, second, image("b0"))
        # A fourth picture would take the open boards past 128 KiB: refused, clearly.
        error = await b.error({"type": "paint.op", "room": second, "op": image("b1")})
        assert error["code"] == "too_large" and "painter.memory_bytes" in error["message"]
        # Small drawing still fits. A clear makes room on the board it clears (the board
        # is folded to what shows when the budget is reached), closing a board frees it all.
        await add(b, second, stroke(1, 2, 3, 4))
        await add(b, second, {"id": "wipe", "kind": "clear"})
        await add(b, second, image("b1"))
        assert stored_ops(srv.data, second) == 1
        error = await b.error({"type": "paint.op", "room": second, "op": image("b2")})
        assert error["code"] == "too_large"
        await a.ok({"type": "paint.close", "room": first})
        await add(b, second, image("b2"))
        board = await open_board(await bob.connect(), second)
        assert [op["id"] for op in board["ops"]] == ["b1", "b2"]


async def test_one_person_fills_only_their_share_of_the_open_boards(
    make_server: Callable[..., Server],
) -> None:
    srv = make_server({**RELAXED, "PYCHAT_PAINTER_USER_BYTES": "131072"})
    async for make in people_on(srv.url):
        mallory, bob, carol = await make("mallory"), await make("bob"), await make("carol")
        shared, own = (await new_room(mallory, bob))["id"], (await new_room(carol))["id"]
        m, b, c = await mallory.connect(), await bob.connect(), await carol.connect()
        await open_board(m, shared)
        await open_board(b, shared)
        await open_board(c, own)
        for n in range(3):
            await add(m, shared, image(f"m{n}"))
        error = await m.error({"type": "paint.op", "room": shared, "op": image("m3")})
        assert error["code"] == "too_large" and "painter.user_bytes" in error["message"]
        # Others, on her board and on their own, are not held back by her.
        await add(b, shared, image("b0"))
        for n in range(3):
            await add(c, own, image(f"c{n}"))
        # Undoing her own picture gives her room again (the board folds, the picture stays).
        await add(m, shared, {"id": "undo-m0", "kind": "undo", "target": "m0"})
        await add(m, shared, image("m3"))
        board = await open_board(await mallory.connect(), shared)
        assert [op["id"] for op in board["ops"]] == ["m1", "m2", "b0", "m3"]
        assert len((await open_board(await carol.connect(), own))["ops"]) == 3
