"""The board's rules without a server: what an op may be, what shows, how a board folds."""

from __future__ import annotations

from typing import Any

import pytest

from appliance.errors import BadRequest, Forbidden, NotFound, TooLarge
from appliance.painter import ops
from appliance.painter.board import Board, BoardLimits

LIMITS = ops.OpLimits(max_points=10, image_chars=200)


def op(op_id: str, kind: str = "stroke", author: int = 1, **fields: Any) -> dict[str, Any]:
    if kind == "stroke":
        fields = {"color": "#000000", "size": 2, "points": [0, 0], **fields}
    return ops.parse({"id": op_id, "kind": kind, **fields}, author, LIMITS)


def test_parse_keeps_only_known_fields_and_stamps_the_author() -> None:
    parsed = ops.parse(
        {"id": "a", "kind": "stroke", "color": "#aabbcc", "size": 3.5, "points": [1, 2.5],
         "erase": False},
        author=7,
        limits=LIMITS,
    )  # fmt: skip
    assert parsed == {
        "id": "a",
        "kind": "stroke",
        "author": 7,
        "color": "#aabbcc",
        "size": 3.5,
        "points": [1, 2.5],
    }
    assert op("e", erase=True)["erase"] is True
    assert "fill" not in op("l", "line", color="#000000", size=1, points=[0, 0, 1, 1], fill=True)


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ({"id": "a", "kind": "stroke", "color": "#000000", "size": 2, "points": [0] * 22},
         TooLarge),
        ({"id": "a", "kind": "stroke", "color": "#000000", "size": 2, "points": [True, 1]},
         BadRequest),
        ({"id": "a", "kind": "stroke", "color": "#000000", "size": 2, "points": [float("nan"), 1]},
         BadRequest),
        ({"id": "a", "kind": "image", "points": [0, 0, 1, 1], "src": "data:image/png;base64,"
          + "A" * 200}, TooLarge),
        ({"id": "a", "kind": "undo"}, BadRequest),
        ({"id": "a b", "kind": "clear"}, BadRequest),
        ({"kind": "clear"}, BadRequest),
    ],
)  # fmt: skip
def test_parse_refuses(raw: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        ops.parse(raw, 1, LIMITS)


def test_visible_follows_undo_redo_and_clear() -> None:
    a, b, wipe, c = op("a"), op("b"), op("wipe", "clear"), op("c")
    undo_b = op("u", "undo", target="b")
    assert ops.visible([a, b, undo_b]) == [a]
    assert ops.visible([a, b, undo_b, op("r", "redo", target="b")]) == [a, b]
    assert ops.visible([a, b, wipe, c]) == [c]
    assert ops.visible([a, b, wipe, c, op("u2", "undo", target="wipe")]) == [a, b, c]


def numbered(board: Board, *added: dict[str, Any], limits: BoardLimits) -> None:
    for item in added:
        board.check_history(item)
        board.apply(board.plan(item, limits))


def test_folding_keeps_the_picture_and_the_seqs() -> None:
    limits = BoardLimits(max_ops=4, max_bytes=1 << 20)
    board = Board(1)
    numbered(board, op("a"), op("b"), op("u", "undo", target="a"), op("c"), limits=limits)
    plan = board.plan(op("d"), limits)
    assert plan.drop == (1, 3)  # the undone stroke and the undo record
    board.apply(plan)
    assert [(o["id"], o["seq"]) for o in board.ops] == [("b", 2), ("c", 4), ("d", 5)]
    assert set(board.by_id) == {"b", "c", "d"}
    numbered(board, op("e"), limits=limits)
    with pytest.raises(TooLarge):
        board.plan(op("f"), limits)
    wipe = board.plan(op("wipe", "clear"), limits)
    assert wipe.store is False and len(wipe.drop) == 4
    board.apply(wipe)
    assert board.ops == [] and board.bytes == 0 and board.seq == 7


def test_history_only_for_ones_own_ops_on_the_board() -> None:
    board = Board(1)
    numbered(board, op("a", author=1), limits=BoardLimits(10, 1 << 20))
    with pytest.raises(Forbidden):
        board.check_history(op("u", "undo", author=2, target="a"))
    with pytest.raises(NotFound):
        board.check_history(op("u", "undo", author=1, target="zzz"))


def test_pages_split_by_size_and_stop_at_until() -> None:
    board = Board(1)
    numbered(board, *(op(f"s{n}") for n in range(10)), limits=BoardLimits(100, 1 << 20))
    size = board.sizes[1]
    page, after = board.page(0, 10, size * 3)
    assert [o["seq"] for o in page] == [1, 2, 3] and after == 3
    page, after = board.page(3, 5, size * 3)
    assert [o["seq"] for o in page] == [4, 5] and after is None
