"""Months of uptime, compressed (issue 19): the real server under every kind of traffic at
once for a stretch of wall clock, sampled for growth.

Many users in many channels send messages at a steady rate; their sockets are closed and
reopened (`hello` with their last seq) all along, with what was in flight sent again under
the same `client_id` as the web app's outbox does; small files are uploaded and sent;
messages are edited, reacted to and deleted (files with them); calls are joined and left.
Every `--sample` seconds: the server's RSS and open descriptors, the database and WAL
sizes, the event log (rows, oldest seq kept), the blob store (bytes, files) and the
messages acknowledged per second. At the end a table of the samples and, per metric, a
"growth" verdict: its slope over the last half of the run against the first half.

Correctness, not timing: every reconnecting socket's events (replay and live, across all
its connections) arrive in increasing seq order, none twice, and are exactly those a socket
of the same user that never disconnected received; a replay that starts after a delete (or
edit) was acknowledged never carries the old text; at the end deleted messages read back as
tombstones, are not found by search and their files are gone; `PRAGMA integrity_check` is ok.

The full run is `--messages 1000000 --minutes 60` (the defaults); give one of the two to
scale the other at the same rate, or both. Before schema 16 the scrub after edits and deletes
corrupted the search index on SQLite 3.40 within ~50,000 messages (its incremental merge:
bench/fts_merge_corruption.py), after which every send failed; the scrub now merges in one
write. That made it rarer, not gone (a 50-minute run broke it at 241,750 messages), so the
server now rebuilds a corrupt index and retries the write (appliance/db_index_repair.py):
a rebuild shows among the server's warnings at the end, not as failed sends.
`--edits 0 --deletes 0` measures the rest alone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import random
import shutil
import sqlite3
import time
from array import array
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil
from _common import CACHE_DIR, apply_nice, exit_on_sigterm, log, raise_nofile
from _provision import Api, _build, _users, copy_template, start_real

# Per 1,000 messages sent (the full run: ~10,000 reconnects per million messages).
PER_1000 = {"reconnects": 10.0, "uploads": 5.0, "edits": 2.0, "deletes": 3.0, "reactions": 20.0}
CALLS_PER_1000 = 0.5  # calls joined by 2-3 people and left again
UNIT_MALLOC = {"MALLOC_ARENA_MAX": "2", "MALLOC_MMAP_THRESHOLD_": "1048576"}  # as the unit
EMOJI = ["👍", "🎉", "❤️", ":ok:", "😂"]


# --- provisioning ---------------------------------------------------------------------------


def room_members(users: int, rooms: int, size: int) -> list[list[int]]:
    """Room r holds `size` consecutive users (by index), so each user is in ~rooms*size/users."""
    step = max(1, users // rooms)
    return [[(r * step + k) % users for k in range(size)] for r in range(rooms)]


def prepared_soak(users: int, rooms: int, size: int, fresh: bool) -> tuple[Path, dict[str, Any]]:
    prepared = CACHE_DIR / f"soak-u{users}-r{rooms}-s{size}"
    meta_path = prepared / "sessions.json"
    if meta_path.exists() and not fresh:
        return prepared, json.loads(meta_path.read_text())
    log(f"provisioning {users} users in {rooms} channels of {size} into {prepared}")

    async def fill(api: Api, admin_cookie: str) -> dict[str, Any]:
        accounts = await _users(api, admin_cookie, [f"k{i:04d}" for i in range(users)])
        ids: list[int] = []
        for r, members in enumerate(room_members(users, rooms, size)):
            data, _ = await api.call(
                "POST", "/api/rooms", {"kind": "channel", "name": f"soak-{r}"}, cookie=admin_cookie
            )
            room = data["room"]["id"]
            ids.append(room)
            await api.call(
                "POST",
                f"/api/rooms/{room}/members",
                {"user_ids": [accounts[m]["id"] for m in members]},
                cookie=admin_cookie,
            )
            await api.call("POST", f"/api/rooms/{room}/leave", cookie=admin_cookie)
        return {"users": accounts, "rooms": ids, "created": time.time()}

    return prepared, asyncio.run(_build(prepared, fill))


# --- clients --------------------------------------------------------------------------------


@dataclass
class Stats:
    sent: int = 0  # messages acknowledged (each client_id once)
    counts: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    def problem(self, text: str) -> None:
        if len(self.problems) < 50:
            self.problems.append(text)
        self.counts["problems"] += 1


@dataclass
class Removed:
    """What must never come back: deleted messages, and bodies edited away."""

    deleted: dict[int, float] = field(default_factory=dict)  # id -> monotonic ack time
    edited: dict[int, tuple[float, str]] = field(default_factory=dict)  # id -> (ack, body)


class Sock:
    """One user's WebSocket that reconnects with `hello` from its last seq. Requests in
    flight when it closes are sent again on the next connection (the outbox's way)."""

    def __init__(self, soak: Soak, user: dict[str, Any], stable: bool) -> None:
        self.soak = soak
        self.user = user
        self.stable = stable  # the reference: never closed on purpose
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.up = asyncio.Event()
        self.last_seq: int | None = None
        self.first_head = 0  # the head of the first hello: seqs compared from there
        self.seqs = array("q")  # every event seq received, in order, over all connections
        self.resyncs: list[tuple[int, int]] = []  # (since, head): not replayed, reloaded
        self.replaying_since = 0.0  # monotonic time the current hello was sent (0: live)
        self.nreq = 0
        self.pending: dict[str, tuple[dict[str, Any], asyncio.Future[dict[str, Any]]]] = {}
        self.reader: asyncio.Task[None] | None = None
        self.connections = 0

    async def connect(self) -> None:
        soak = self.soak
        self.ws = await soak.http.ws_connect(
            soak.base + "/api/ws",
            headers={"Cookie": f"pychat_session={self.user['cookie']}"},
            heartbeat=None,
            max_msg_size=0,
        )
        self.connections += 1
        hello: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending["h"] = ({}, hello)
        self.replaying_since = time.monotonic()
        self.reader = asyncio.create_task(self._read(self.ws))
        await self.ws.send_str(json.dumps({"type": "hello", "since": self.last_seq, "req": "h"}))
        reply = await asyncio.wait_for(hello, 120)
        self.replaying_since = 0.0
        if not reply.get("ok"):
            raise RuntimeError(f"hello refused: {reply}")
        data = reply["data"]
        if self.last_seq is None:
            self.first_head = data["head"]
            self.last_seq = data["head"]
        elif data.get("resync"):
            self.resyncs.append((self.last_seq, data["head"]))
            soak.stats.counts["resyncs"] += 1
            self.last_seq = data["head"]
        self.up.set()
        for req, (frame, _fut) in list(self.pending.items()):  # the outbox
            if req != "h":
                await self.ws.send_str(json.dumps(frame))

    async def reconnect(self, away: float = 0.0) -> None:
        self.up.clear()
        ws, self.ws = self.ws, None
        if ws is not None:
            await ws.close()
        if self.reader is not None:
            await self.reader
        if away:
            await asyncio.sleep(away)
        for attempt in range(20):
            try:
                await self.connect()
                return
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                self.soak.stats.errors[f"connect: {type(exc).__name__}"] += 1
                await asyncio.sleep(0.5 * (attempt + 1))
        raise RuntimeError(f"{self.user['username']} could not reconnect")

    async def request(self, frame: dict[str, Any], timeout: float = 300) -> dict[str, Any]:
        self.nreq += 1
        req = f"r{self.nreq}"
        frame = {**frame, "req": req}
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        await self.up.wait()
        # Registered once up: from here a reconnect sends it again (same client_id).
        self.pending[req] = (frame, fut)
        ws = self.ws
        if ws is not None and not ws.closed:
            with contextlib.suppress(ConnectionError):
                await ws.send_str(json.dumps(frame))
        try:
            return await asyncio.wait_for(fut, timeout)
        finally:
            self.pending.pop(req, None)

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            frame = json.loads(msg.data)
            kind = frame.get("type")
            if kind == "event":
                self._event(frame)
            elif kind == "reply":
                entry = self.pending.get(frame.get("req"))
                if entry is not None and not entry[1].done():
                    entry[1].set_result(frame)
        if self.ws is ws and not self.soak.stopping:  # closed by the server, not by us
            self.soak.stats.counts[f"closed by server ({ws.close_code})"] += 1
            asyncio.get_running_loop().create_task(self.reconnect())

    def _event(self, frame: dict[str, Any]) -> None:
        seq = frame["seq"]
        if self.last_seq is not None and seq <= self.last_seq:
            self.soak.stats.problem(
                f"{self.user['username']}: seq {seq} after {self.last_seq}"
                " (duplicate or out of order)"
            )
        self.last_seq = seq
        self.seqs.append(seq)
        if self.replaying_since and frame["kind"] in ("message.new", "message.edit"):
            self._check_replayed(frame["data"]["message"], seq)

    def _check_replayed(self, message: dict[str, Any], seq: int) -> None:
        """A replay that began after a delete or edit was acknowledged has no old text."""
        removed = self.soak.removed
        mid = message["id"]
        acked = removed.deleted.get(mid)
        if acked is not None and acked < self.replaying_since:
            if not message["deleted"] or message["body"] or message["attachments"]:
                self.soak.stats.problem(f"deleted message {mid} came back in replay (seq {seq})")
            return
        edit = removed.edited.get(mid)
        # The text as first sent starts with its token; edits write "edited…".
        if (
            edit is not None
            and edit[0] < self.replaying_since
            and message["body"].startswith("tok")
        ):
            self.soak.stats.problem(f"edited message {mid} replayed with old text (seq {seq})")


@dataclass
class Sent:
    id: int
    room: int
    author: int  # index of the user
    token: str
    upload: int | None = None
    digest: str = ""  # SHA-256 of the upload's bytes


class Soak:
    def __init__(
        self, args: argparse.Namespace, meta: dict[str, Any], base: str, data: Path
    ) -> None:
        self.args = args
        self.data = data
        self.base = base
        self.users: list[dict[str, Any]] = meta["users"]
        self.rooms: list[int] = meta["rooms"]
        self.members = room_members(len(self.users), len(self.rooms), args.room_size)
        self.rooms_of: list[list[int]] = [[] for _ in self.users]
        for r, members in enumerate(self.members):
            for m in members:
                self.rooms_of[m].append(r)
        self.http: aiohttp.ClientSession = None  # type: ignore[assignment]  # set in run()
        self.stats = Stats()
        self.removed = Removed()
        self.stopping = False
        self.socks: list[Sock] = []
        self.refs: dict[int, Sock] = {}  # user index -> its never-closed reference socket
        self.recent: list[Sent] = []  # candidates for edits, reactions, deletes
        self.deleted_sample: list[Sent] = []
        self.kept_sample: list[Sent] = []
        self.deleted_uploads: list[Sent] = []  # messages with a file, deleted
        self.rng = random.Random(args.seed)
        self.first_error = 0.0
        self.on_first_error: Callable[[], None] = lambda: None

    # --- the load ---------------------------------------------------------------------
    async def send_loop(self, rate: float, end: float) -> None:
        """Open loop at `rate` messages/s, spread over users; each user keeps at most
        `--window` sends in flight (a slow server slows the rate: the table says how much)."""
        inflight = Counter[int]()
        tasks: set[asyncio.Task[None]] = set()
        nxt = time.monotonic()
        n = 0
        while time.monotonic() < end:
            nxt += 1.0 / rate
            delay = nxt - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -1.0:
                nxt = time.monotonic()  # behind by over a second: don't burst to catch up
            u = n % len(self.users)
            n += 1
            if inflight[u] >= self.args.window:
                self.stats.counts["sends skipped (window full)"] += 1
                continue
            inflight[u] += 1
            t = asyncio.create_task(self.send_one(u, n))
            tasks.add(t)

            def done(t: asyncio.Task[None], u: int = u) -> None:
                tasks.discard(t)
                inflight[u] -= 1

            t.add_done_callback(done)
        await asyncio.gather(*tasks, return_exceptions=True)

    async def send_one(self, u: int, n: int, upload: int | None = None, digest: str = "") -> None:
        sock = self.socks[u]
        room_idx = self.rng.choice(self.rooms_of[u])
        token = f"tok{n}x{self.rng.getrandbits(32):08x}"
        frame: dict[str, Any] = {
            "type": "message.send",
            "room": self.rooms[room_idx],
            "body": f"{token} soak message {n} from {sock.user['username']}",
            "client_id": f"soak-{n}-{u}",
        }
        if upload is not None:
            frame["attachments"] = [upload]
        try:
            reply = await sock.request(frame)
        except TimeoutError:
            self.stats.errors["send timeout"] += 1
            return
        if not reply.get("ok"):
            code = reply.get("error", {}).get("code")
            self.stats.errors[f"send: {code}"] += 1
            if code == "internal_error" and not self.first_error:
                self.first_error = time.monotonic()
                self.on_first_error()
            return
        self.stats.sent += 1
        msg = reply["data"]["message"]
        if upload is not None and [a["id"] for a in msg["attachments"]] != [upload]:
            self.stats.problem(f"message {msg['id']} came back without its file {upload}")
        sent = Sent(msg["id"], self.rooms[room_idx], u, token, upload, digest)
        self.recent.append(sent)
        if len(self.recent) > 2000:
            del self.recent[:1000]
        if len(self.kept_sample) < 100 and n % 97 == 0:
            self.kept_sample.append(sent)

    async def every(self, per_second: float, end: float, job: Any) -> None:
        """Run `job()` about `per_second` times a second (Poisson), at most 8 at once."""
        if per_second <= 0:
            return
        sem = asyncio.Semaphore(8)
        tasks: set[asyncio.Task[None]] = set()

        async def run() -> None:
            async with sem:
                try:
                    await job()
                except Exception as exc:  # counted, the run goes on
                    self.stats.errors[f"{job.__name__}: {type(exc).__name__}: {exc}"[:120]] += 1

        while True:
            await asyncio.sleep(self.rng.expovariate(per_second))
            if time.monotonic() >= end:
                break
            t = asyncio.create_task(run())
            tasks.add(t)
            t.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks, return_exceptions=True)

    async def reconnect_one(self) -> None:
        sock = self.rng.choice(self.socks)
        if not sock.up.is_set():
            return
        await sock.reconnect(away=self.rng.random() * self.args.away)
        self.stats.counts["reconnects"] += 1

    async def upload_one(self) -> None:
        u = self.rng.randrange(len(self.users))
        size = self.rng.randint(1024, 16384)
        content = os.urandom(size)
        form = aiohttp.FormData()
        form.add_field(
            "file",
            content,
            filename=f"soak-{u}.bin",
            content_type="application/octet-stream",
        )
        async with self.http.post(
            self.base + "/api/uploads",
            data=form,
            headers={"Cookie": f"pychat_session={self.users[u]['cookie']}"},
        ) as r:
            if r.status != 201:
                self.stats.errors[f"upload: {r.status}"] += 1
                return
            upload = (await r.json())["upload"]["id"]
        self.stats.counts["uploads"] += 1
        self.stats.counts["upload bytes"] += size
        digest = hashlib.sha256(content).hexdigest()
        await self.send_one(u, 10**9 + self.stats.counts["uploads"], upload, digest)

    def _pick(self) -> Sent | None:
        if not self.recent:
            return None
        return self.recent.pop(self.rng.randrange(len(self.recent)))

    async def edit_one(self) -> None:
        sent = self._pick()
        if sent is None:
            return
        body = f"edited{sent.id} soak"
        reply = await self.socks[sent.author].request(
            {"type": "message.edit", "message": sent.id, "body": body}
        )
        if reply.get("ok"):
            self.removed.edited[sent.id] = (time.monotonic(), body)
            self.stats.counts["edits"] += 1
            sent.token = f"edited{sent.id}"
            self.recent.append(sent)
        else:
            self.stats.errors[f"edit: {reply.get('error', {}).get('code')}"] += 1

    async def delete_one(self) -> None:
        # Half of the deletes take a message with a file when there is one.
        with_file = [s for s in self.recent[-200:] if s.upload is not None]
        if with_file and self.rng.random() < 0.5:
            sent = self.rng.choice(with_file)
            self.recent.remove(sent)
        else:
            picked = self._pick()
            if picked is None:
                return
            sent = picked
        reply = await self.socks[sent.author].request(
            {"type": "message.delete", "message": sent.id}
        )
        if not reply.get("ok"):
            self.stats.errors[f"delete: {reply.get('error', {}).get('code')}"] += 1
            return
        self.removed.deleted[sent.id] = time.monotonic()
        self.stats.counts["deletes"] += 1
        if sent.upload is not None:
            self.stats.counts["deletes with a file"] += 1
            self.deleted_uploads.append(sent)
        if len(self.deleted_sample) < 200:
            self.deleted_sample.append(sent)

    async def react_one(self) -> None:
        if not self.recent:
            return
        sent = self.rng.choice(self.recent)
        room_idx = self.rooms.index(sent.room)
        u = self.rng.choice(self.members[room_idx])
        reply = await self.socks[u].request(
            {
                "type": "reaction.set",
                "message": sent.id,
                "emoji": self.rng.choice(EMOJI),
                "on": True,
            }
        )
        if reply.get("ok"):
            self.stats.counts["reactions"] += 1
        elif reply.get("error", {}).get("code") != "not_found":  # deleted meanwhile
            self.stats.errors[f"reaction: {reply.get('error', {}).get('code')}"] += 1

    async def call_one(self) -> None:
        r = self.rng.randrange(len(self.rooms))
        room = self.rooms[r]
        people = self.rng.sample(self.members[r], self.rng.randint(2, 3))
        for u in people:
            reply = await self.socks[u].request(
                {"type": "rtc.call.join", "room": room, "audio": True, "video": False}
            )
            if not reply.get("ok"):
                self.stats.errors[f"call join: {reply.get('error', {}).get('code')}"] += 1
        await asyncio.sleep(self.rng.uniform(1, 4))  # pacing of the load, not a wait for state
        for u in people:
            reply = await self.socks[u].request({"type": "rtc.call.leave", "room": room})
            if not reply.get("ok"):
                self.stats.errors[f"call leave: {reply.get('error', {}).get('code')}"] += 1
        self.stats.counts["calls"] += 1

    # --- checks -----------------------------------------------------------------------
    async def settle(self, timeout: float = 120) -> None:
        """Wait until every socket has caught up with the head (all events delivered)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for s in self.all_socks():
                await s.up.wait()
            # A ping's pong follows every event queued before it on that socket.
            await asyncio.gather(*(s.request({"type": "ping"}) for s in self.all_socks()))
            pairs = [(self.socks[u], ref) for u, ref in self.refs.items()]
            if all(a.last_seq == b.last_seq for a, b in pairs):
                return
            await asyncio.sleep(0.5)
        self.stats.problem(f"reconnecting sockets did not catch up in {timeout:.0f} s")

    def all_socks(self) -> list[Sock]:
        return [*self.socks, *self.refs.values()]

    def check_replay(self) -> dict[str, int]:
        """Each reconnecting socket got exactly what its never-closed twin got."""
        compared = 0
        for u, ref in self.refs.items():
            flap = self.socks[u]
            lo = max(flap.first_head, ref.first_head)
            hi = min(flap.last_seq or 0, ref.last_seq or 0)

            def window(s: Sock, lo: int = lo, hi: int = hi) -> set[int]:
                return {q for q in s.seqs if lo < q <= hi}

            got, want = window(flap), window(ref)
            for since, head in flap.resyncs:  # reloaded over REST: not replayed, by design
                want = {q for q in want if not since < q <= head}
            missing, extra = want - got, got - want
            if missing:
                self.stats.problem(
                    f"{flap.user['username']}: {len(missing)} events missing after reconnects,"
                    f" e.g. seq {sorted(missing)[:5]}"
                )
            if extra:
                self.stats.problem(
                    f"{flap.user['username']}: {len(extra)} events its reference never got,"
                    f" e.g. seq {sorted(extra)[:5]}"
                )
            compared += len(want)
        return {"users compared": len(self.refs), "events compared": compared}

    async def check_deleted(self) -> dict[str, int]:
        """Deleted messages read back as tombstones, search finds none, their files are gone."""
        checked = 0
        for sent in self.deleted_sample:
            cookie = self.users[sent.author]["cookie"]
            headers = {"Cookie": f"pychat_session={cookie}"}
            url = f"{self.base}/api/rooms/{sent.room}/messages?after={sent.id - 1}&limit=1"
            async with self.http.get(url, headers=headers) as r:
                msgs = (await r.json()).get("messages") if r.status == 200 else None
            if msgs is None:
                self.stats.problem(f"reading deleted message {sent.id} back: HTTP {r.status}")
                continue
            m = msgs[0] if msgs else None
            if m is None or m["id"] != sent.id or not m["deleted"] or m["body"] or m["attachments"]:
                self.stats.problem(f"deleted message {sent.id} reads back as {m}")
            async with self.http.get(
                f"{self.base}/api/search", params={"q": sent.token}, headers=headers
            ) as r:
                if r.status != 200:
                    self.stats.problem(f"search for {sent.token}: HTTP {r.status}")
                elif (await r.json())["messages"]:
                    self.stats.problem(f"search finds deleted message {sent.id} ({sent.token})")
            checked += 1
        for sent in self.kept_sample[:20]:  # the same search finds what was not deleted
            if sent.id in self.removed.deleted or sent.id in self.removed.edited:
                continue
            headers = {"Cookie": f"pychat_session={self.users[sent.author]['cookie']}"}
            async with self.http.get(
                f"{self.base}/api/search", params={"q": sent.token}, headers=headers
            ) as r:
                if r.status != 200:
                    self.stats.problem(f"search for {sent.token}: HTTP {r.status}")
                elif not (await r.json())["messages"]:
                    self.stats.problem(f"search misses kept message {sent.id} ({sent.token})")
        gone = reused = 0
        for sent in self.deleted_uploads[:200]:
            upload, u, mid = sent.upload, sent.author, sent.id
            # Its bytes leave the disk, and its URL no longer serves them. The id itself may
            # serve another file: upload ids are reused once the newest upload is deleted.
            digest = sent.digest
            if (self.data / "files" / digest[:2] / digest[2:]).exists():
                self.stats.problem(f"upload {upload} of deleted message {mid}: blob still on disk")
            headers = {"Cookie": f"pychat_session={self.users[u]['cookie']}"}
            async with self.http.get(f"{self.base}/api/uploads/{upload}/x", headers=headers) as r:
                if r.status == 404:
                    gone += 1
                elif r.status == 200 and digest not in r.headers.get("ETag", ""):
                    reused += 1
                else:
                    self.stats.problem(
                        f"upload {upload} of deleted message {mid} answers {r.status}"
                    )
        return {
            "deleted messages checked": checked,
            "files of deleted messages gone": gone,
            "their upload ids since reused by another file": reused,
        }


# --- sampling -------------------------------------------------------------------------------

METRICS = [
    # key, heading, unit, bounded (must level off) or content (grows with what is kept)
    ("rss", "RSS MiB", 1 << 20, True),
    ("fds", "fds", 1, True),
    ("db", "db MiB", 1 << 20, False),
    ("wal", "WAL MiB", 1 << 20, True),
    ("events", "events", 1, True),
    ("blobs", "blob MiB", 1 << 20, False),
    ("blob_files", "blob files", 1, False),
]


def sample(pid: int, data: Path) -> dict[str, float]:
    out: dict[str, float] = {}
    try:
        proc = psutil.Process(pid)
        out["rss"] = proc.memory_info().rss
        out["cpu"] = sum(proc.cpu_times()[:2])
    except psutil.Error:
        out["rss"] = out["cpu"] = float("nan")
    try:
        out["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        out["fds"] = float("nan")
    db = data / "pychat.db"
    out["db"] = db.stat().st_size
    wal = db.with_name("pychat.db-wal")
    out["wal"] = wal.stat().st_size if wal.exists() else 0
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        n, lo, hi = con.execute("SELECT count(*), min(seq), max(seq) FROM events").fetchone()
    finally:
        con.close()
    out["events"], out["oldest"], out["head"] = n, lo or 0, hi or 0
    size = files = 0
    for root, _dirs, names in os.walk(data / "files"):
        for name in names:
            with contextlib.suppress(OSError):
                size += os.stat(os.path.join(root, name)).st_size
                files += 1
    out["blobs"], out["blob_files"] = size, files
    return out


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope (per unit of x) of (x, y) points."""
    n = len(points)
    if n < 2:
        return float("nan")
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / sxx if sxx else float("nan")


def verdicts(samples: list[dict[str, float]]) -> list[str]:
    """Per metric: slope per 10 minutes in each half of the run; bounded metrics must flatten,
    content metrics grow in proportion to the messages kept."""
    t_mid = samples[-1]["t"] / 2
    first = [s for s in samples if s["t"] <= t_mid]
    last = [s for s in samples if s["t"] >= t_mid]
    lines = []
    for key, head, unit, bounded in METRICS:
        if bounded:
            a = slope([(s["t"] / 600, s[key] / unit) for s in first])
            b = slope([(s["t"] / 600, s[key] / unit) for s in last])
            peak_a = max(s[key] / unit for s in first)
            peak_b = max(s[key] / unit for s in last)
            span_b = (last[-1]["t"] - last[0]["t"]) / 600
            # Sawtooth metrics (WAL, events) have slopes of either sign: the peak decides.
            tol = {"rss": 4.0, "fds": 10.0, "wal": 4.0, "events": 2000.0}[key]
            if peak_b <= peak_a + tol or abs(b) * span_b <= tol:
                word = "flat"
            elif a > 0 and b <= 0.5 * a:
                word = "levelling off"
            else:
                word = "GROWS"
            lines.append(
                f"  {head:<11} {a:+10.2f} -> {b:+10.2f} per 10 min, peak"
                f" {peak_a:,.1f} -> {peak_b:,.1f}   {word}"
            )
        else:  # per message acknowledged: constant means it grows with content only
            a = slope([(s["sent"], s[key]) for s in first])
            b = slope([(s["sent"], s[key]) for s in last])
            per = "B" if unit > 1 else "files"
            scale = 1 if unit > 1 else 1000
            word = "with content" if b <= 1.5 * a + 1e-9 else "FASTER than content"
            lines.append(
                f"  {head:<11} {a * scale:+10.2f} -> {b * scale:+10.2f} {per} per"
                f" {'message' if unit > 1 else '1000 messages'}   {word}"
            )
    return lines


def print_samples(samples: list[dict[str, float]]) -> None:
    cols: list[tuple[str, Callable[[dict[str, float]], str]]] = [
        ("min", lambda s: f"{s['t'] / 60:.1f}"),
        ("messages", lambda s: f"{s['sent']:,.0f}"),
        ("msg/s", lambda s: f"{s['rate']:.0f}"),
        ("srv CPU", lambda s: f"{s['cpu_pct']:.0f}%"),
        ("RSS MiB", lambda s: f"{s['rss'] / 2**20:.1f}"),
        ("fds", lambda s: f"{s['fds']:.0f}"),
        ("db MiB", lambda s: f"{s['db'] / 2**20:.1f}"),
        ("WAL MiB", lambda s: f"{s['wal'] / 2**20:.2f}"),
        ("events", lambda s: f"{s['events']:,.0f}"),
        ("oldest seq", lambda s: f"{s['oldest']:,.0f}"),
        ("head", lambda s: f"{s['head']:,.0f}"),
        ("blob MiB", lambda s: f"{s['blobs'] / 2**20:.1f}"),
        ("blobs", lambda s: f"{s['blob_files']:.0f}"),
        ("reconn", lambda s: f"{s['reconnects']:.0f}"),
    ]
    rows = [[f(s) for _, f in cols] for s in samples]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, (h, _) in enumerate(cols)]
    print("  ".join(h.rjust(w) for (h, _), w in zip(cols, widths, strict=True)))
    for r in rows:
        print("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)))


# --- the run --------------------------------------------------------------------------------


async def run(args: argparse.Namespace, meta: dict[str, Any], data: Path) -> int:
    env = dict(UNIT_MALLOC)
    if args.replay_limit:
        env["PYCHAT_WS_REPLAY_LIMIT"] = str(args.replay_limit)
    server = start_real(data, env)
    server.output = deque(maxlen=1_000_000)  # the whole log, saved beside the data folder
    log(f"server pid {server.pid} at {server.base_url}, data {data}")
    samples: list[dict[str, float]] = []
    try:
        async with aiohttp.ClientSession(
            cookie_jar=aiohttp.DummyCookieJar(), connector=aiohttp.TCPConnector(limit=0)
        ) as http:
            soak = Soak(args, meta, server.base_url, data)
            soak.http = http

            def save_log() -> None:
                log("! the first internal_error: server log saved to server-first-error.log")
                (data.parent / "server-first-error.log").write_text("\n".join(server.output))

            soak.on_first_error = save_log
            soak.socks = [Sock(soak, u, stable=False) for u in soak.users]
            soak.refs = {
                i: Sock(soak, u, stable=True)
                for i, u in enumerate(soak.users)
                if i % args.ref_every == 0
            }
            for sock in soak.all_socks():
                await sock.connect()
            log(f"{len(soak.socks)} sockets + {len(soak.refs)} reference sockets up")
            seconds = args.minutes * 60
            rate = args.messages / seconds
            mix = {k: getattr(args, k) for k in [*PER_1000, "calls"]}
            per_s = {k: v * rate / 1000 for k, v in mix.items()}
            log(
                f"target {rate:.0f} msg/s for {args.minutes:.1f} min; per second:"
                + ", ".join(f" {k} {v:.2f}" for k, v in per_s.items())
            )
            t0 = time.monotonic()
            end = t0 + seconds

            async def sampler() -> None:
                prev_t, prev_sent, prev_cpu = 0.0, 0, 0.0
                while True:
                    s = await asyncio.to_thread(sample, server.pid, data)
                    s["t"] = time.monotonic() - t0
                    s["sent"] = soak.stats.sent
                    s["reconnects"] = soak.stats.counts["reconnects"]
                    dt = s["t"] - prev_t
                    s["rate"] = (s["sent"] - prev_sent) / dt if dt > 0 else 0.0
                    s["cpu_pct"] = 100 * (s["cpu"] - prev_cpu) / dt if dt > 0 and prev_cpu else 0.0
                    prev_t, prev_sent, prev_cpu = s["t"], soak.stats.sent, s["cpu"]
                    samples.append(s)
                    log(
                        f"{s['t'] / 60:5.1f} min  {s['sent']:>9,} msgs ({s['rate']:.0f}/s)"
                        f"  rss {s['rss'] / 2**20:.1f} MiB  fds {s['fds']:.0f}"
                        f"  db {s['db'] / 2**20:.1f} MiB  wal {s['wal'] / 2**20:.2f} MiB"
                        f"  events {s['events']:,.0f} (oldest {s['oldest']:,.0f})"
                        f"  blobs {s['blob_files']:.0f} / {s['blobs'] / 2**20:.1f} MiB"
                        f"  reconnects {s['reconnects']:.0f}"
                        f"  errors {sum(soak.stats.errors.values())}"
                        f"  problems {soak.stats.counts['problems']}"
                    )
                    await asyncio.sleep(max(0.0, args.sample - (time.monotonic() - t0 - s["t"])))

            sampling = asyncio.create_task(sampler())
            load = [
                soak.send_loop(rate, end),
                soak.every(per_s["reconnects"], end, soak.reconnect_one),
                soak.every(per_s["uploads"], end, soak.upload_one),
                soak.every(per_s["edits"], end, soak.edit_one),
                soak.every(per_s["deletes"], end, soak.delete_one),
                soak.every(per_s["reactions"], end, soak.react_one),
                soak.every(per_s["calls"], end, soak.call_one),
            ]
            await asyncio.gather(*load)
            log("load stopped: letting every socket catch up")
            await soak.settle()
            sampling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampling
            s = await asyncio.to_thread(sample, server.pid, data)
            s.update(t=time.monotonic() - t0, sent=soak.stats.sent, rate=0.0, cpu_pct=0.0)
            s["reconnects"] = soak.stats.counts["reconnects"]
            samples.append(s)
            replay = soak.check_replay()
            deleted = await soak.check_deleted()
            soak.stopping = True
            for sock in soak.all_socks():
                if sock.ws is not None:
                    await sock.ws.close()
    finally:
        rc = server.stop(60)
        log(f"server exited with {rc}")
        (data.parent / "server.log").write_text("\n".join(server.output) + "\n")
    con = sqlite3.connect(data / "pychat.db")
    try:
        integrity = con.execute("PRAGMA integrity_check").fetchall()
        # SQLite's check sees the search index's tables, not whether they hold a valid
        # index of the messages: FTS5's own check does (rank 1: against the content too).
        try:
            con.execute("INSERT INTO messages_fts(messages_fts, rank) VALUES('integrity-check', 1)")
        except sqlite3.DatabaseError as exc:
            integrity.append((f"search index: {exc}",))
    finally:
        con.close()
    ok_integrity = integrity == [("ok",)]
    if not ok_integrity:
        soak.stats.problem(f"integrity_check: {integrity[:5]}")

    print(f"\n== soak: {args.messages:,} messages at {args.messages / (args.minutes * 60):.0f}/s"
          f" for {args.minutes:.1f} min; {len(soak.users)} users in {len(soak.rooms)} channels"
          f" of {args.room_size}; replay window {args.replay_limit or 'default'}")  # fmt: skip
    print_samples(samples)
    print("\n== growth: slope in the first half -> the last half of the run")
    for line in verdicts(samples):
        print(line)
    elapsed = samples[-1]["t"]
    print("\n== what was done")
    print(
        f"  messages acknowledged {soak.stats.sent:,} ({soak.stats.sent / elapsed:.0f}/s overall)"
    )
    for k, v in sorted(soak.stats.counts.items()):
        if k != "problems":
            print(f"  {k} {v:,}")
    for k, v in soak.stats.errors.most_common(10):
        print(f"  error: {k} x{v}")
    print("\n== correctness")
    for k, v in {**replay, **deleted}.items():
        print(f"  {k} {v:,}")
    print(f"  integrity_check and FTS5 integrity-check {'ok' if ok_integrity else integrity[:3]}")
    print(f"  problems {soak.stats.counts['problems']}")
    for p in soak.stats.problems:
        print(f"    ! {p}")
    server_warnings = [line for line in server.output if "WARNING" in line or "ERROR" in line]
    if server_warnings:
        print(f"  server warnings/errors: {len(server_warnings)}, the last:")
        for line in server_warnings[-5:]:
            print(f"    {line[:200]}")
    return 0 if ok_integrity and not soak.stats.counts["problems"] else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--messages", type=int, help="messages to send (default 1,000,000 per hour)")
    ap.add_argument("--minutes", type=float, help="wall clock (default 60 per million messages)")
    ap.add_argument("--users", type=int, default=60)
    ap.add_argument("--rooms", type=int, default=20)
    ap.add_argument("--room-size", type=int, default=6)
    ap.add_argument(
        "--ref-every", type=int, default=4, help="every Nth user also holds a reference socket"
    )
    ap.add_argument("--window", type=int, default=8, help="sends in flight per user at most")
    ap.add_argument(
        "--away", type=float, default=2.0, help="a reconnect stays away up to this many s"
    )
    ap.add_argument("--sample", type=float, default=30.0, help="seconds between samples")
    ap.add_argument(
        "--replay-limit", type=int, default=0, help="ws.replay_limit for the run (0: default)"
    )
    for name, per in [*PER_1000.items(), ("calls", CALLS_PER_1000)]:
        ap.add_argument(f"--{name}", type=float, default=per, help=f"per 1,000 messages ({per:g})")
    ap.add_argument("--seed", type=int, default=19)
    ap.add_argument("--fresh", action="store_true", help="provision the users again")
    ap.add_argument("--keep", action="store_true", help="keep the data folder")
    ap.add_argument("--nice", type=int, default=0)
    args = ap.parse_args()
    full_rate = 1_000_000 / 3600
    if args.messages is None and args.minutes is None:
        args.messages, args.minutes = 1_000_000, 60.0
    elif args.messages is None:
        args.messages = round(args.minutes * 60 * full_rate)
    elif args.minutes is None:
        args.minutes = args.messages / full_rate / 60
    exit_on_sigterm()
    raise_nofile()
    apply_nice(args.nice)
    prepared, meta = prepared_soak(args.users, args.rooms, args.room_size, args.fresh)
    data = copy_template(prepared)
    try:
        return asyncio.run(run(args, meta, data))
    finally:
        if args.keep:
            log(f"data kept in {data}")
        else:
            shutil.rmtree(data.parent, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
