"""One room's board in memory: its ops in seq order, and the rules for adding one.

Pure: no I/O. `plan` decides what adding an op does (a new seq, and when the board would
outgrow its limits, which ops to fold away first); `apply` makes it so once it is durable.
Folding keeps exactly `ops.visible(...)`, so it never changes the picture: only hidden ops,
undo/redo records and whatever an earlier `clear` wiped go.

Each board also keeps what its ops cost in memory, per author (`costs`), so the
painter can hold all open boards, and each person's share of them, under a budget.
"""

from __future__ import annotations

import bisect
import json
from dataclasses import dataclass, field
from typing import Any

from ..errors import Forbidden, NotFound, TooLarge
from . import ops as paint_ops

# What a parsed op takes in memory beyond its stored JSON (measured with tracemalloc on
# CPython 3.11): about 1 KB of dict and strings for any op, and a float object and a list
# slot (32 bytes) for each coordinate, where JSON spends about 7 bytes.
OP_OVERHEAD = 1024
NUMBER_BYTES = 32


def op_cost(op: dict[str, Any], size: int) -> int:
    """The memory an op of `size` stored bytes is counted as (a little more than it takes)."""
    return size + OP_OVERHEAD + NUMBER_BYTES * len(op.get("points", ()))


@dataclass(frozen=True)
class BoardLimits:
    max_ops: int
    max_bytes: int


@dataclass(frozen=True)
class Plan:
    seq: int
    op: dict[str, Any]  # with its seq
    text: str  # the op as stored (without seq)
    store: bool  # False when the op folds away at once (a clear or undo of a full board)
    drop: tuple[int, ...] = ()  # seqs folded away


def encode(op: dict[str, Any]) -> str:
    stored = {k: v for k, v in op.items() if k != "seq"}
    return json.dumps(stored, separators=(",", ":"), ensure_ascii=False)


@dataclass
class Board:
    room_id: int
    seq: int = 0
    ops: list[dict[str, Any]] = field(default_factory=list)
    sizes: dict[int, int] = field(default_factory=dict)  # seq → stored bytes
    by_id: dict[str, dict[str, Any]] = field(default_factory=dict)
    bytes: int = 0
    costs: dict[int, int] = field(default_factory=dict)  # author → op_cost of their ops

    @classmethod
    def load(cls, room_id: int, seq: int, rows: list[tuple[int, str]]) -> Board:
        board = cls(room_id, seq)
        for op_seq, text in rows:
            board._append({**json.loads(text), "seq": op_seq}, len(text.encode()))
        return board

    def _append(self, op: dict[str, Any], size: int) -> None:
        self.ops.append(op)
        self.sizes[op["seq"]] = size
        self.by_id[op["id"]] = op
        self.bytes += size
        author = int(op["author"])
        self.costs[author] = self.costs.get(author, 0) + op_cost(op, size)

    def check_history(self, op: dict[str, Any]) -> None:
        """undo/redo name an op on this board that their author drew."""
        if op["kind"] not in paint_ops.HISTORY:
            return
        target = self.by_id.get(op["target"])
        if target is None or target["kind"] in paint_ops.HISTORY:
            raise NotFound("That operation is not on the board (any more).")
        if target["author"] != op["author"]:
            raise Forbidden("Only its author can undo or redo an operation.")

    def plan(self, op: dict[str, Any], limits: BoardLimits, *, fold: bool = False) -> Plan:
        """Add `op` as it is, or, when the board would outgrow `limits` (or `fold` asks for
        it: a memory budget is reached), after folding the board."""
        seq = self.seq + 1
        text = encode(op)
        size = len(text.encode())
        numbered = {**op, "seq": seq}
        fits = len(self.ops) + 1 <= limits.max_ops and self.bytes + size <= limits.max_bytes
        if fits and not fold:
            return Plan(seq, numbered, text, store=True)
        kept = paint_ops.visible([*self.ops, numbered])
        kept_seqs = {k["seq"] for k in kept}
        kept_bytes = sum(self.sizes.get(k["seq"], size) for k in kept)
        if len(kept) > limits.max_ops or kept_bytes > limits.max_bytes:
            raise TooLarge("This board is full: clear it (or undo some drawing) to go on.")
        drop = tuple(o["seq"] for o in self.ops if o["seq"] not in kept_seqs)
        return Plan(seq, numbered, text, store=seq in kept_seqs, drop=drop)

    def growth(self, plan: Plan) -> dict[int, int]:
        """How `apply(plan)` changes each author's cost (positive: more memory)."""
        delta: dict[int, int] = {}
        if plan.drop:
            dropped = set(plan.drop)
            for op in self.ops:
                if op["seq"] in dropped:
                    author = int(op["author"])
                    delta[author] = delta.get(author, 0) - op_cost(op, self.sizes[op["seq"]])
        if plan.store:
            author = int(plan.op["author"])
            delta[author] = delta.get(author, 0) + op_cost(plan.op, len(plan.text.encode()))
        return delta

    def apply(self, plan: Plan) -> None:
        if plan.drop:
            dropped = set(plan.drop)
            for op in self.ops:
                if op["seq"] in dropped:
                    size = self.sizes.pop(op["seq"])
                    self.bytes -= size
                    author = int(op["author"])
                    self.costs[author] -= op_cost(op, size)
                    if not self.costs[author]:
                        del self.costs[author]
                    self.by_id.pop(op["id"], None)
            self.ops = [op for op in self.ops if op["seq"] not in dropped]
        if plan.store:
            self._append(plan.op, len(plan.text.encode()))
        self.seq = plan.seq

    def page(
        self, after: int, until: int, max_bytes: int
    ) -> tuple[list[dict[str, Any]], int | None]:
        """Ops with after < seq <= until, at most about max_bytes; and where to go on from
        (None when this page reaches `until`)."""
        out: list[dict[str, Any]] = []
        used = 0
        start = bisect.bisect_right(self.ops, after, key=lambda o: int(o["seq"]))
        for op in self.ops[start:]:
            seq = op["seq"]
            if seq > until:
                break
            if out and used + self.sizes[seq] > max_bytes:
                return out, out[-1]["seq"]
            out.append(op)
            used += self.sizes[seq]
        return out, None
