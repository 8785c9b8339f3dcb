"""Live boards: who has which board open, adding ops durably, relaying cursors and strokes.

A board is loaded into memory when someone opens it and dropped when the last viewer
leaves. Ops of one board are added one at a time (a lock per board), each acknowledged and
sent to the other viewers only after its commit, so memory equals the database. On several
nodes the database orders them (an op is stored on top of the seq its node holds, else
planned again once caught up) and the others hear each op (cluster/paint.py); a viewer may
then get ops out of seq order, and places them by seq. Cursors and strokes being drawn are
ephemeral: relayed to the other viewers (on every node), never stored, rate-limited.

Memory: the boards held are counted (`board.op_cost`) as they are loaded, grow (counted
before the write, so parallel ops on other boards cannot pass a budget together) and are
dropped. Every op that would grow them is checked against `painter.memory_bytes` for all
of them and `painter.user_bytes` for its author's ops on them (issue 13). Over a budget,
the board is folded first, so `clear` and `undo` still go through.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .. import wire
from ..connection import Connection
from ..db import Tx
from ..errors import BadRequest, Conflict, NotFound, RateLimited, TooLarge
from ..ratelimit import TokenBuckets
from ..storage import boards as stored
from . import ops as paint_ops
from .board import Board, BoardLimits, Plan
from .memory import MemoryBudget
from .open_board import OpenBoard, OtherNodes, RemoteViewers

if TYPE_CHECKING:
    from ..state.services import Services

LIVE_PER_SECOND = 40.0  # cursor moves and stroke chunks a socket may relay (both together)
LIVE_BURST = 80
OPEN_PER_SOCKET = 4  # boards one socket may have open (the app opens one): bounds memory
STALE_RETRIES = 20  # ops planned again after another node's came first, before giving up
CATCH_UP_S = 1.0  # how long another node's op may take to be heard before loading again


class Painter:
    def __init__(self, svc: Services) -> None:
        self.svc = svc
        cfg = svc.settings.painter
        self.op_limits = paint_ops.OpLimits(cfg.max_points, cfg.image_chars)
        self.board_limits = BoardLimits(cfg.max_ops, cfg.max_bytes)
        self.memory = MemoryBudget(cfg.memory_bytes, cfg.user_bytes)
        # A page of ops in one reply: well under what a socket may hold unsent.
        self.page_bytes = max(4096, min(256 * 1024, svc.settings.ws.send_buffer_bytes // 4))
        self.open_boards: dict[int, OpenBoard] = {}
        self.loading: dict[int, asyncio.Task[Board]] = {}
        self.by_conn: dict[int, set[int]] = {}  # conn id → rooms it has open
        self.op_buckets: TokenBuckets[int] = TokenBuckets(cfg.ops_per_second, cfg.ops_burst)
        self.live_buckets: TokenBuckets[int] = TokenBuckets(LIVE_PER_SECOND, LIVE_BURST)
        svc.hub.on_unregister.append(self.forget)
        # Several nodes: the others' painters, and the viewers they hold.
        self.nodes: OtherNodes | None = None
        self.remote_viewers = RemoteViewers()
        self._heard_loading: dict[int, int] = {}  # room → highest seq heard while it loads

    # -- opening and closing -------------------------------------------------------------

    def _member(self, conn: Connection, room_id: int) -> None:
        if not self.svc.hub.is_member(conn.user_id, room_id):
            raise NotFound("No such room.")

    async def _board(self, room_id: int) -> OpenBoard:
        while True:
            current = self.open_boards.get(room_id)
            if current is not None:
                return current
            task = self.loading.get(room_id)
            if task is None:
                task = asyncio.ensure_future(self._load(room_id))
                self.loading[room_id] = task
                task.add_done_callback(lambda _: self.loading.pop(room_id, None))
            board = await asyncio.shield(task)
            current = self.open_boards.get(room_id)
            if current is not None and current.board is board:
                return current
            if current is None:
                # Loaded (or loaded and already dropped again: this caller keeps it).
                return self._hold(room_id, board)

    def _hold(self, room_id: int, board: Board) -> OpenBoard:
        live = self.open_boards[room_id] = OpenBoard(board)
        self.memory.count(board.costs, 1)
        # Another node's op heard while loading may be past what the load read.
        live.stale = self._heard_loading.pop(room_id, 0) > board.seq
        if self.nodes is not None:
            self.nodes.ask_viewers(room_id)  # who has it open on the other nodes
        return live

    async def _reload(self, room_id: int, live: OpenBoard) -> None:
        """Another node moved the board on: hold it as the database has it now, and send
        its viewers the ops they may have missed (they place ops by seq, once each)."""
        live.stale, live.reloading = False, True  # an op heard meanwhile: stale again
        try:
            board = await self._load(room_id)
        finally:
            live.reloading = False
        self._replace(room_id, live, board)

    def _replace(self, room_id: int, live: OpenBoard, board: Board) -> None:
        before = live.board.seq
        self.memory.count(live.board.costs, -1)
        live.board = board
        self.memory.count(board.costs, 1)
        missed, _ = board.page(before, board.seq, self.page_bytes)
        for op in missed:
            frame = {"type": "paint.op", "room": room_id, "op": op, "seq": op["seq"]}
            self._relay(room_id, live, wire.frame(frame), skip=0)

    async def _hear_database(self, tx: Tx, room_id: int, live: OpenBoard) -> None:
        """Inside an op's write, on several nodes: take the ops others stored meanwhile
        from the database (sent on to this node's viewers), so the op is planned on the
        board as it is. Until the commit no other node writes (each batch holds the event
        log's head from its start: cluster/writer.py), so the plan cannot go stale."""
        board = live.board
        seq, kept, newer = await stored.since(tx, room_id, board.seq)
        if seq == board.seq:
            return
        if kept != len(board.ops):  # another node folded the board: take it whole
            seq, rows = await stored.load(tx, room_id)
            self._replace(room_id, live, await asyncio.to_thread(Board.load, room_id, seq, rows))
        else:
            for op_seq, text in newer:
                plan = Plan(op_seq, {**json.loads(text), "seq": op_seq}, text, store=True)
                self.memory.count(board.growth(plan), 1)
                board.apply(plan)
                frame = {"type": "paint.op", "room": room_id, "op": plan.op, "seq": op_seq}
                self._relay(room_id, live, wire.frame(frame), skip=0)
            board.seq = seq  # past ops that folded away at once (stored nothing)
        live.stale = False

    async def _load(self, room_id: int) -> Board:
        seq, rows = await stored.load(self.svc.db, room_id)
        # Up to painter.max_bytes of JSON to parse: off the loop, as on a Pi it takes a while.
        return await asyncio.to_thread(Board.load, room_id, seq, rows)

    async def open(self, conn: Connection, room_id: int) -> dict[str, Any]:
        self._member(conn, room_id)
        opened = self.by_conn.get(conn.id, set())
        if room_id not in opened and len(opened) >= OPEN_PER_SOCKET:
            raise TooLarge(f"A connection may have at most {OPEN_PER_SOCKET} boards open.")
        live = await self._board(room_id)
        live.busy += 1  # held while it loads again: not dropped under the reload
        try:
            for _ in range(STALE_RETRIES):
                if not live.stale:
                    break
                async with live.lock:
                    if live.stale:
                        await self._reload(room_id, live)
        finally:
            live.busy -= 1
        if conn.closed:
            self._drop_if_idle(room_id, live)
            raise NotFound("That socket is closed.")
        if not live.viewers and self.memory.full:
            self._drop_if_idle(room_id, live)
            raise TooLarge(
                "Too many big boards are open on this server (painter.memory_bytes);"
                " try again later."
            )
        live.viewers[conn.id] = conn
        self.by_conn.setdefault(conn.id, set()).add(room_id)
        board = live.board
        ops, next_seq = board.page(0, board.seq, self.page_bytes)
        self._send_viewers(room_id, live)
        return {
            "board": {"seq": board.seq, "ops": ops, "next": next_seq},
            "viewers": self._viewer_list(room_id, live),
        }

    def page(self, conn: Connection, room_id: int, after: int, until: int) -> dict[str, Any]:
        live = self._viewing(conn, room_id)
        ops, next_seq = live.board.page(after, min(until, live.board.seq), self.page_bytes)
        return {"ops": ops, "next": next_seq}

    def close(self, conn: Connection, room_id: int) -> None:
        self._member(conn, room_id)
        self._leave(conn.id, room_id)

    def forget(self, conn: Connection) -> None:
        """The socket is gone (hub.on_unregister)."""
        for room_id in self.by_conn.pop(conn.id, set()):
            self._leave(conn.id, room_id, forget=False)

    def _leave(self, conn_id: int, room_id: int, *, forget: bool = True) -> None:
        if forget:
            rooms = self.by_conn.get(conn_id)
            if rooms is not None:
                rooms.discard(room_id)
                if not rooms:
                    del self.by_conn[conn_id]
        live = self.open_boards.get(room_id)
        if live is None or live.viewers.pop(conn_id, None) is None:
            return
        self._send_viewers(room_id, live)
        self._drop_if_idle(room_id, live)

    def _drop_if_idle(self, room_id: int, live: OpenBoard) -> None:
        if not live.viewers and not live.busy and self.open_boards.get(room_id) is live:
            del self.open_boards[room_id]
            self.memory.count(live.board.costs, -1)

    def _viewing(self, conn: Connection, room_id: int) -> OpenBoard:
        self._member(conn, room_id)
        live = self.open_boards.get(room_id)
        if live is None or conn.id not in live.viewers:
            raise BadRequest("Open the board first (paint.open).")
        return live

    # -- ops -----------------------------------------------------------------------------

    async def add(self, conn: Connection, room_id: int, raw: Any) -> dict[str, Any]:
        live = self._viewing(conn, room_id)
        op = paint_ops.parse(raw, conn.user_id, self.op_limits)
        wait = self.op_buckets.take(conn.id, self.svc.clock())
        if wait > 0:
            raise RateLimited("You are drawing too fast; slow down.", retry_after_s=wait)
        live.busy += 1
        try:
            async with live.lock:
                for _ in range(STALE_RETRIES):
                    if live.stale:
                        await self._reload(room_id, live)
                    try:
                        return await self._add(conn, room_id, live, op)
                    except stored.StaleBoard as stale:
                        # Another node's op came first: its message brings the board up to
                        # date in a moment (else load it again); then plan anew.
                        await self._catch_up(live, stale.seq)
                raise Conflict("Others are drawing on this board very fast; try again.")
        finally:
            live.busy -= 1
            self._drop_if_idle(room_id, live)

    async def _add(
        self, conn: Connection, room_id: int, live: OpenBoard, op: dict[str, Any]
    ) -> dict[str, Any]:
        now = self.svc.now_ms()
        counted: list[dict[int, int]] = []  # the growth the job's last run counted

        def uncount() -> None:
            while counted:
                self.memory.count(counted.pop(), -1)

        async def job(tx: Tx) -> Plan | dict[str, Any] | None:
            uncount()  # run again (another job of the batch failed): count it once
            if self.nodes is not None:
                await self._hear_database(tx, room_id, live)
            board = live.board
            earlier = board.by_id.get(op["id"])
            if earlier is not None:
                # A retry (same id, same author) is answered with what was stored.
                if earlier["author"] != conn.user_id:
                    raise Conflict("Another operation on this board has that id.")
                return {"seq": earlier["seq"]}
            board.check_history(op)
            plan, growth = self._plan(board, op)
            # Counted before the write, so ops on other boards meanwhile see it.
            self.memory.count(growth, 1)
            counted.append(growth)
            row = (op["id"], conn.user_id, plan.text) if plan.store else None
            saved = await stored.save_op(tx, room_id, plan.seq, now, op=row, drop=plan.drop)
            return plan if saved else None

        try:
            result = await self.svc.db.write(job)
        except BaseException:
            uncount()
            raise
        if isinstance(result, dict):
            return result
        if result is None:  # nothing was written: another node's op came first
            uncount()
            raise stored.StaleBoard(room_id, live.board.seq + 1)
        plan = result
        live.board.apply(plan)
        frame = {"type": "paint.op", "room": room_id, "op": plan.op, "seq": plan.seq}
        self._relay(room_id, live, wire.frame(frame), skip=conn.id)
        if self.nodes is not None:
            self.nodes.op_added(room_id, plan)
        return {"seq": plan.seq}

    async def _catch_up(self, live: OpenBoard, seq: int) -> None:
        """Until the board holds `seq` (another node's ops applied as they are heard), or
        `CATCH_UP_S` passed: then it is loaded again."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CATCH_UP_S
        while live.board.seq < seq and not live.stale:
            try:
                async with asyncio.timeout_at(deadline):
                    await live.advanced.wait()
            except TimeoutError:
                live.stale = True

    def _plan(self, board: Board, op: dict[str, Any]) -> tuple[Plan, dict[int, int]]:
        """The board's plan for `op` and how it changes each author's cost: folded first
        when it would take the open boards past a budget; TooLarge naming the budget when
        even the folded board is over it."""
        plan = board.plan(op, self.board_limits)
        growth = board.growth(plan)
        over = self.memory.over(growth, op["author"])
        if over is not None and not plan.drop:
            plan = board.plan(op, self.board_limits, fold=True)
            growth = board.growth(plan)
            over = self.memory.over(growth, op["author"])
        if over is not None:
            raise TooLarge(over)
        return plan, growth

    # -- ephemeral -----------------------------------------------------------------------

    def _live_token(self, conn: Connection, asked: bool) -> bool:
        wait = self.live_buckets.take(conn.id, self.svc.clock())
        if wait > 0 and asked:
            raise RateLimited("Too many cursor and stroke frames; slow down.", retry_after_s=wait)
        return wait == 0

    def cursor(self, conn: Connection, room_id: int, x: float, y: float, asked: bool) -> None:
        live = self._viewing(conn, room_id)
        if self._live_token(conn, asked):
            frame = {
                "type": "paint.cursor",
                "room": room_id,
                "user": conn.user_id,
                "conn": conn.id,
                "x": x,
                "y": y,
            }
            self._relay(room_id, live, wire.frame(frame), skip=conn.id, everywhere=True)

    def stroke(self, conn: Connection, room_id: int, part: dict[str, Any], asked: bool) -> None:
        """A piece of a stroke being drawn, so others see it grow; the stroke itself comes
        as a `paint.op` with the same id when the pen lifts."""
        live = self._viewing(conn, room_id)
        if self._live_token(conn, asked):
            frame = {"type": "paint.stroke", "room": room_id, "user": conn.user_id, "conn": conn.id}
            data = wire.frame({**frame, **part})
            self._relay(room_id, live, data, skip=conn.id, everywhere=True)

    # -- viewers -------------------------------------------------------------------------

    def _local_viewers(self, live: OpenBoard) -> list[dict[str, int]]:
        return [{"user": c.user_id, "conn": c.id} for c in sorted(live.viewers.values(), key=_id)]

    def _viewer_list(self, room_id: int, live: OpenBoard) -> list[dict[str, int]]:
        """This node's viewers, and those the other live nodes hold."""
        others = self.svc.hub.other_nodes
        remote = self.remote_viewers.of(room_id, lambda conn: bool(others and others.user_of(conn)))
        return sorted(self._local_viewers(live) + remote, key=lambda v: v["conn"])

    def _send_viewers(self, room_id: int, live: OpenBoard, *, tell_nodes: bool = True) -> None:
        viewers = self._viewer_list(room_id, live)
        frame = {"type": "paint.viewers", "room": room_id, "viewers": viewers}
        self._relay(room_id, live, wire.frame(frame), skip=0)
        if tell_nodes and self.nodes is not None:
            self.nodes.viewers_here(room_id, self._local_viewers(live))

    # -- what the other nodes tell -------------------------------------------------------

    def remote_op(self, room_id: int, plan: Plan) -> None:
        """An op another node added (in the order that node added its own)."""
        live = self.open_boards.get(room_id)
        if live is None:
            if room_id in self.loading:
                heard = self._heard_loading
                heard[room_id] = max(heard.get(room_id, 0), plan.seq)
            return
        board = live.board
        if plan.store and plan.op["id"] in board.by_id:
            return  # held: taken from the database in a write, and relayed to viewers then
        # Not held, though maybe already past (a clear or undo that folded away at once, or
        # ops it dropped, leave no row to take): relayed all the same, the viewers place
        # ops by seq and ignore those they have.
        if plan.seq == board.seq + 1 and not live.stale and not live.reloading:
            # An op this node is adding meanwhile was planned on the board before: its
            # write finds the board moved on (StaleBoard) and plans again on this one.
            self.memory.count(board.growth(plan), 1)
            board.apply(plan)
            advanced, live.advanced = live.advanced, asyncio.Event()
            advanced.set()
        elif plan.seq > board.seq:
            live.stale = True  # one was missed: load the board again before using it
        frame = {"type": "paint.op", "room": room_id, "op": plan.op, "seq": plan.seq}
        self._relay(room_id, live, wire.frame(frame), skip=0)

    def remote_relay(self, room_id: int, data: bytes) -> None:
        live = self.open_boards.get(room_id)
        if live is not None:
            self._relay(room_id, live, data, skip=0)

    def remote_viewers_changed(
        self, room_id: int, node: int, viewers: list[dict[str, int]]
    ) -> None:
        self.remote_viewers.held(room_id, node, viewers)
        live = self.open_boards.get(room_id)
        if live is not None:
            self._send_viewers(room_id, live, tell_nodes=False)

    def viewers_asked(self, room_id: int) -> None:
        live = self.open_boards.get(room_id)
        if live is not None and live.viewers and self.nodes is not None:
            self.nodes.viewers_here(room_id, self._local_viewers(live))

    # -- fan-out -------------------------------------------------------------------------

    def _relay(
        self, room_id: int, live: OpenBoard, data: bytes, *, skip: int, everywhere: bool = False
    ) -> None:
        """Encoded once, written to every other viewer still in the room (`everywhere`:
        on the other nodes too)."""
        if everywhere and self.nodes is not None:
            self.nodes.relay(room_id, data)
        frame = wire.ws_text_frame(data)
        gone: list[Connection] = []
        for conn in _others(live.viewers.values(), skip):
            if conn.closed or not self.svc.hub.is_member(conn.user_id, room_id):
                gone.append(conn)  # left the room (or closing): sees the board no more
            else:
                conn.write_frame(frame)
        for conn in gone:
            self._leave(conn.id, room_id)


def _id(conn: Connection) -> int:
    return conn.id


def _others(conns: Iterable[Connection], skip: int) -> list[Connection]:
    return [c for c in conns if c.id != skip]
