"""What the card sees: bytes the server writes to storage per 1,000 messages, per hour idle,
per upload and per delete.

Starts a real `pychat serve` (synchronous=FULL, the default; the unit's malloc settings) on
a fresh data folder. As root the folder is on a card of its own: an ext4 file system in a
loop device, mounted `noatime` as the image's root is, so the device's own counters
(`/sys/block/loopN/stat`) show everything that reaches the "card", ext4's journal and
metadata included. Beside that, always: what the server's process tree sent to storage
(`/proc/<pid>/io` `write_bytes`, counted when a page is dirtied; `cancelled_write_bytes`:
dirty pages of files deleted before they were written back), the data folder's files,
and the SQLite log read from its `-shm` index (frames appended, checkpoints: sampled every
2 ms, so the split between log and checkpoints is an estimate). Each phase ends with a
`syncfs` of the card, so what it left dirty is counted in it.

Phases: signing in; 1,000s of messages over WebSockets by a few clients, one at a time and
in bursts (enough for many checkpoints); idle with sockets open (heartbeats) and with none;
uploads of 1 MiB, 20 MiB and a photo (thumbnail); deletes and edits with their redaction
(the search index merged whole: grows with history). Prints a table, what one lone
message's commit writes by table, and what it all means for a card (stated assumptions).

    .venv/bin/python bench/card_writes.py                         # ~8 minutes
    .venv/bin/python bench/card_writes.py --messages 2000 --idle-min 0.5   # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import itertools
import os
import random
import shutil
import sqlite3
import struct
import subprocess
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil
from _common import RELAXED_ENV, log
from _server import PASSWORD, ROOT, start_server

MIB = 1 << 20
WORDS = ("the", "deploy", "build", "report", "lunch", "meeting", "review", "fix", "ticket")
UNIT_ENV = {"MALLOC_ARENA_MAX": "2", "MALLOC_MMAP_THRESHOLD_": "1048576", "PYTHONUNBUFFERED": "1"}


# -- what reaches storage --------------------------------------------------------------------


def tree_io(pid: int) -> tuple[int, int]:
    """(write_bytes, cancelled_write_bytes) of the process and its live children; children
    already reaped are in their parent's counters (the kernel adds them at wait())."""
    written = cancelled = 0
    try:
        procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return 0, 0
    for proc in procs:
        with contextlib.suppress(OSError):
            fields = dict(
                line.split(": ") for line in Path(f"/proc/{proc.pid}/io").read_text().splitlines()
            )
            written += int(fields["write_bytes"])
            cancelled += int(fields["cancelled_write_bytes"])
    return written, cancelled


class Card:
    """An ext4 file system of its own in a loop device (root only), or a plain folder."""

    def __init__(self, base: Path, size_mib: int, use_loop: bool) -> None:
        self.base = base
        self.mount = base / "card"
        self.image = base / "card.img"
        self.device = ""
        self.use_loop = use_loop
        self.size_mib = size_mib

    def __enter__(self) -> Card:
        self.mount.mkdir()
        if not self.use_loop:
            return self
        with self.image.open("wb") as f:
            f.truncate(self.size_mib * MIB)
        # No lazy init: ext4lazyinit would write inode tables while we measure.
        subprocess.run(
            ["mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0",
             str(self.image)], check=True,
        )  # fmt: skip
        self.device = subprocess.run(
            ["losetup", "--find", "--show", str(self.image)],
            check=True, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip
        try:
            subprocess.run(["mount", "-o", "noatime", self.device, str(self.mount)], check=True)
        except subprocess.CalledProcessError:
            subprocess.run(["losetup", "-d", self.device], check=False)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device:
            subprocess.run(["umount", str(self.mount)], check=False)
            subprocess.run(["losetup", "-d", self.device], check=False)

    def sync(self) -> None:
        fd = os.open(self.mount, os.O_RDONLY)
        try:
            os.fsync(fd)  # the directory itself
            subprocess.run(["sync", "-f", str(self.mount)], check=True)
        finally:
            os.close(fd)

    def counters(self) -> tuple[int, int]:
        """(bytes written, write requests) the loop device received; (0, 0) without one."""
        if not self.device:
            return 0, 0
        stat = Path(f"/sys/block/{Path(self.device).name}/stat").read_text().split()
        return int(stat[6]) * 512, int(stat[4])


class WalWatch:
    """SQLite's log as its `-shm` index says: frames appended and log resets (each reset
    follows a complete checkpoint), sampled every 2 ms from another thread."""

    def __init__(self, shm: Path) -> None:
        self.shm = shm
        self.frames = 0  # appended since start, across resets
        self.resets = 0
        self._last = -1
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        try:
            with self.shm.open("rb") as f:
                head = f.read(20)
        except OSError:
            return
        if len(head) < 20:
            return
        (mx_frame,) = struct.unpack_from("=I", head, 16)  # WalIndexHdr.mxFrame, native order
        if self._last < 0:
            self._last = mx_frame
        elif mx_frame < self._last:  # reset: a new log from its start
            self.resets += 1
            self.frames += mx_frame
        else:
            self.frames += mx_frame - self._last
        self._last = mx_frame

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(0.002)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def folder_sizes(data: Path) -> dict[str, int]:
    sizes = {"db": 0, "wal": 0, "files": 0, "other": 0}
    for path in data.rglob("*"):
        if not path.is_file():
            continue
        size = path.stat().st_size
        if path.name == "pychat.db":
            sizes["db"] += size
        elif path.name == "pychat.db-wal":
            sizes["wal"] += size
        elif "files" in path.relative_to(data).parts:
            sizes["files"] += size
        else:
            sizes["other"] += size
    return sizes


def commit_pages(data: Path, last: int) -> tuple[list[int], dict[str, float]]:
    """Pages per commit of the last `last` commits in the log, and what they belong to
    (table or index, from `dbstat`): read from a copy taken while nothing writes."""
    with tempfile.TemporaryDirectory(prefix="pychat-card-copy-") as tmp:
        copy = Path(tmp) / "pychat.db"
        shutil.copy(data / "pychat.db", copy)
        wal = (data / "pychat.db-wal").read_bytes()
        (Path(tmp) / "pychat.db-wal").write_bytes(wal)
        page_size, salt = struct.unpack_from(">I", wal, 8)[0], wal[16:24]
        commits: list[list[int]] = []
        frames: list[int] = []
        offset = 32  # the log's header; then frames: 24-byte header + one page
        while offset + 24 + page_size <= len(wal) and wal[offset + 8 : offset + 16] == salt:
            page, commit_size = struct.unpack_from(">II", wal, offset)
            frames.append(page)
            if commit_size:  # the commit's last frame
                commits.append(frames)
                frames = []
            offset += 24 + page_size
        conn = sqlite3.connect(copy)
        try:
            owner = dict(conn.execute("SELECT pageno, name FROM dbstat"))
        finally:
            conn.close()
    tail = commits[-last:]
    counts: dict[str, float] = {}
    for commit in tail:
        for page in commit:
            name = owner.get(page, "?")
            counts[name] = counts.get(name, 0) + 1 / max(len(tail), 1)
    return [len(c) for c in tail], dict(sorted(counts.items(), key=lambda kv: -kv[1]))


@dataclass
class Phase:
    name: str
    units: float  # what the figure is per
    unit: str
    seconds: float = 0.0
    proc_bytes: int = 0
    cancelled: int = 0
    card_bytes: int = 0
    card_writes: int = 0
    wal_frames: int = 0
    resets: int = 0
    sizes: dict[str, int] = field(default_factory=dict)


class Meter:
    def __init__(self, pid: int, card: Card, data: Path, wal: WalWatch) -> None:
        self.pid, self.card, self.data, self.wal = pid, card, data, wal
        self.phases: list[Phase] = []
        self.pages: tuple[list[int], dict[str, float]] = ([], {})

    @contextlib.asynccontextmanager
    async def phase(self, name: str, units: float, unit: str) -> AsyncIterator[Phase]:
        await asyncio.to_thread(self.card.sync)  # the previous phase's dirty pages are its own
        p = Phase(name, units, unit)
        io0, card0, wal0 = (
            tree_io(self.pid),
            self.card.counters(),
            (self.wal.frames, self.wal.resets),
        )
        started = time.monotonic()
        log(f"{name} ...")
        yield p
        p.seconds = time.monotonic() - started
        await asyncio.to_thread(self.card.sync)
        io1, card1 = tree_io(self.pid), self.card.counters()
        p.proc_bytes, p.cancelled = io1[0] - io0[0], io1[1] - io0[1]
        p.card_bytes, p.card_writes = card1[0] - card0[0], card1[1] - card0[1]
        p.wal_frames, p.resets = self.wal.frames - wal0[0], self.wal.resets - wal0[1]
        p.sizes = folder_sizes(self.data)
        self.phases.append(p)


# -- clients -----------------------------------------------------------------------------------


class Client:
    """A signed-in account with one WebSocket; requests matched to replies by `req`."""

    def __init__(self, url: str, username: str, password: str) -> None:
        self.url, self.username, self.password = url, username, password
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.reqs = itertools.count()
        self.reader: asyncio.Task[None] | None = None

    async def login(self) -> None:
        body = {"username": self.username, "password": self.password}
        async with self.http.post(self.url + "/api/auth/login", json=body) as r:
            assert r.status == 200, await r.text()

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        async with self.http.request(method, self.url + path, json=body) as r:
            assert r.status < 300, (r.status, await r.text())
            return await r.json() if r.status != 204 else None

    async def connect(self) -> None:
        self.ws = await self.http.ws_connect(self.url + "/api/ws", autoping=True)
        self.reader = asyncio.create_task(self._read())
        await self.request({"type": "hello", "since": None})

    async def _read(self) -> None:
        assert self.ws is not None
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            frame = msg.json()
            if frame.get("type") == "reply" and (fut := self.pending.pop(frame["req"], None)):
                fut.set_result(frame)

    async def request(self, frame: dict[str, Any]) -> dict[str, Any]:
        assert self.ws is not None
        req = f"r{next(self.reqs)}"
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[req] = fut
        await self.ws.send_json({**frame, "req": req})
        reply = await asyncio.wait_for(fut, 120)
        assert reply["ok"], reply
        return dict(reply["data"])

    async def send(self, room: int, body: str) -> int:
        cid = f"{self.username}-{next(self.reqs)}"
        data = await self.request({"type": "message.send", "room": room, "body": body,
                                   "client_id": cid})  # fmt: skip
        return int(data["message"]["id"])

    async def disconnect(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self.reader
        self.ws = self.reader = None

    async def close(self) -> None:
        await self.disconnect()
        await self.http.close()


def message_body(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 16)))


async def upload(client: Client, name: str, content: bytes) -> dict[str, Any]:
    form = aiohttp.FormData()
    form.add_field("file", content, filename=name)
    async with client.http.post(client.url + "/api/uploads", data=form) as r:
        reply = await r.json()
        assert r.status == 201, reply
        return dict(reply["upload"])


def photo(width: int = 3000, height: int = 2000) -> bytes:
    """A JPEG like a phone's (noise compresses like a photo's detail: a few MB)."""
    from PIL import Image

    rng = random.Random(7)
    small = Image.frombytes(
        "RGB", (width // 8, height // 8), rng.randbytes(width * height * 3 // 64)
    )
    buf = io.BytesIO()
    small.resize((width, height)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


# -- the run -----------------------------------------------------------------------------------


async def scenario(args: argparse.Namespace, url: str, meter: Meter) -> None:
    rng = random.Random(1)
    admin = Client(url, "admin", PASSWORD)
    await admin.login()
    names = [f"user{i}" for i in range(1, args.clients)]
    for name in names:
        await admin.call("POST", "/api/admin/users", {"username": name, "password": PASSWORD})
    clients = [admin] + [Client(url, name, PASSWORD) for name in names]
    try:
        async with meter.phase(f"{len(names)} logins", len(names), "login"):
            for c in clients[1:]:
                await c.login()
        rooms = (await admin.call("GET", "/api/rooms"))["rooms"]
        general = next(r["id"] for r in rooms if r["name"] == "general")
        async with meter.phase(f"{len(clients)} sockets open", len(clients), "socket"):
            for c in clients:
                await c.connect()
        half = args.messages // 2
        sent: list[int] = []
        async with meter.phase("messages one at a time", half / 1000, "1,000 msgs"):
            for i in range(half):
                sent.append(await clients[i % len(clients)].send(general, message_body(rng)))
        meter.pages = commit_pages(meter.data, 20)  # nothing writes now

        async def bursts(c: Client, count: int) -> None:
            for start in range(0, count, args.burst):
                n = min(args.burst, count - start)
                await asyncio.gather(*(c.send(general, message_body(rng)) for _ in range(n)))

        each = (args.messages - half) // len(clients)
        async with meter.phase(
            f"messages in bursts of {args.burst}", each * len(clients) / 1000, "1,000 msgs"
        ):
            await asyncio.gather(*(bursts(c, each) for c in clients))
        mine = [m for i, m in enumerate(sent) if i % len(clients) == 0]  # the admin's
        picked = rng.sample(mine, 2 * args.deletes)
        async with meter.phase("delete + redaction", args.deletes, "delete"):
            for message in picked[: args.deletes]:
                await admin.request({"type": "message.delete", "message": message})
        async with meter.phase("edit + redaction", args.deletes, "edit"):
            for message in picked[args.deletes :]:
                edit = {"type": "message.edit", "message": message, "body": "edited"}
                await admin.request(edit)
        idle_s = args.idle_min * 60
        async with meter.phase(f"idle, {len(clients)} sockets", idle_s / 3600, "hour"):
            await asyncio.sleep(idle_s)  # the measurement window itself
        async with meter.phase(f"{len(clients)} sockets closed", len(clients), "socket"):
            for c in clients:
                await c.disconnect()
            await asyncio.sleep(2)  # the server notices the closes (last seen) on its own time
        async with meter.phase("idle, no socket", idle_s / 3600, "hour"):
            await asyncio.sleep(idle_s)  # the measurement window itself
        for label, size in (("1 MiB", MIB), ("20 MiB", 20 * MIB)):
            content = rng.randbytes(size)  # new content each time: no deduplication
            async with meter.phase(f"upload {label}", size / MIB, "MiB uploaded"):
                await upload(admin, "file.bin", content)
        picture = photo()
        async with meter.phase(
            f"upload a {len(picture) / MIB:.1f} MiB photo", len(picture) / MIB, "MiB uploaded"
        ):
            facts = await upload(admin, "photo.jpg", picture)
            assert facts["thumb_url"], facts
    finally:
        for c in clients:
            await c.close()


def report(meter: Meter, args: argparse.Namespace, loop_card: bool) -> None:
    kib = 1024

    def per(p: Phase, card: bool = loop_card) -> float:
        return (p.card_bytes if card else p.proc_bytes) / p.units if p.units else 0.0

    head = (
        f"{'phase':<31} {'s':>4} {'proc KiB':>9} {'cancel':>6} {'card KiB':>9} {'writes':>6}"
        f" {'frames':>6} {'ckpt':>4}  {'per':<13} {'proc KiB':>9} {'card KiB':>9}"
    )
    print("\n" + head + "\n" + "-" * len(head))
    for p in meter.phases:
        card = (
            f"{p.card_bytes / kib:>9,.0f} {p.card_writes:>6,}"
            if loop_card
            else f"{'-':>9} {'-':>6}"
        )
        per_card = f"{per(p, True) / kib:>9,.1f}" if loop_card else f"{'-':>9}"
        print(
            f"{p.name:<31} {p.seconds:>4.0f} {p.proc_bytes / kib:>9,.0f} {p.cancelled / kib:>6,.0f}"
            f" {card} {p.wal_frames:>6,} {p.resets:>4}  {p.unit:<13}"
            f" {per(p, False) / kib:>9,.1f} {per_card}"
        )
    print(
        "proc: the server's process tree (/proc/<pid>/io write_bytes); cancel: of those, pages"
        " of files deleted before write-back; card: what the loop device received (ext4 journal"
        " and metadata included), and its write requests; frames: SQLite log"
        " frames appended (4 KiB page + 24 bytes); ckpt: log resets after a complete checkpoint"
    )
    last = meter.phases[-1].sizes
    print(
        f"\ndata folder at the end: database {last['db'] / MIB:.1f} MiB, log (WAL) "
        f"{last['wal'] / MIB:.1f} MiB, files {last['files'] / MIB:.1f} MiB, "
        f"other {last['other'] / kib:.0f} KiB: "
        + ", ".join(
            sorted(
                str(f.relative_to(meter.data))
                for f in meter.data.rglob("*")
                if f.is_file() and "files" not in f.relative_to(meter.data).parts
            )
        )
    )
    for p in meter.phases:
        if p.wal_frames and p.proc_bytes and p.unit in ("1,000 msgs", "delete", "edit"):
            wal = p.wal_frames * 4120
            print(
                f"  {p.name}: {p.wal_frames / p.units:,.0f} log frames per {p.unit}, the log"
                f" ~{min(wal / p.proc_bytes, 1):.0%} of the process's bytes, the rest (~"
                f"{max(p.proc_bytes - wal, 0) / p.units / kib:,.0f} KiB per {p.unit}) checkpoints"
                f" into the database file ({p.resets} log resets)"
            )
    sizes, owners = meter.pages
    if sizes:
        print(
            f"  one message sent alone is one commit of {sum(sizes) / len(sizes):.1f} pages"
            f" (last {len(sizes)} commits: {min(sizes)}-{max(sizes)}), per commit: "
            + ", ".join(f"{name} {n:.1f}" for name, n in owners.items())
        )
    # What it means for a card: every figure below is an assumption, said so.
    msgs = [p for p in meter.phases if p.unit == "1,000 msgs"]
    idle = next(p for p in meter.phases if p.name.startswith("idle,") and "sockets" in p.name)
    big = next(p for p in meter.phases if p.name == "upload 20 MiB")
    per_1000 = max(per(p) for p in msgs)
    changes = [p for p in meter.phases if p.unit in ("delete", "edit")]
    per_change = max(per(p) for p in changes)
    per_day = per_1000 * args.per_day / 1000 + per(idle) * 24 + per_change * args.edits_per_day
    budget = args.card_gb * 1e9 * args.cycles / args.amplification
    years = budget / per_day / 365 if per_day else float("inf")
    source = "the card's own counters" if loop_card else "the process's write_bytes"
    print(
        f"\nwhat this means for a card ({source}): {args.per_day:,} messages a day sent one"
        f" at a time ({per_1000 / MIB:.1f} MiB per 1,000, the worse case) and a day with"
        f" sockets open ({per(idle) * 24 / MIB:.2f} MiB) and {args.edits_per_day} deletes or"
        f" edits ({per_change / MIB:.1f} MiB each at {args.messages:,} messages of history)"
        f" write {per_day / MIB:,.0f} MiB a day."
        f" ASSUMED: a {args.card_gb} GB card lasts {args.cycles} writes of its capacity and"
        f" amplifies small writes {args.amplification:g}x inside (neither is published for"
        f" typical cards) -> {args.card_gb * args.cycles / args.amplification / 1000:,.1f} TB"
        f" of writes from the Pi -> {years:,.0f} years. Uploads come on top at"
        f" {per(big) / MIB:.2f} bytes written per byte uploaded."
    )


def fs_type(path: Path) -> str:
    """The file system type `path` is on (the longest mount point above it)."""
    resolved = str(path.resolve())
    best = max(
        (part for part in psutil.disk_partitions(all=True)
         if resolved == part.mountpoint or resolved.startswith(part.mountpoint.rstrip("/") + "/")),
        key=lambda part: len(part.mountpoint),
    )  # fmt: skip
    return str(best.fstype)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument(
        "--messages", type=int, default=10_000, help="half one at a time, half in bursts"
    )
    ap.add_argument("--clients", type=int, default=5, help="signed-in accounts, one socket each")
    ap.add_argument("--burst", type=int, default=50, help="messages in flight per client")
    ap.add_argument("--deletes", type=int, default=3)
    ap.add_argument("--idle-min", type=float, default=3.0, help="minutes of each idle phase")
    ap.add_argument("--per-day", type=int, default=5000, help="messages a day, for the card line")
    ap.add_argument("--edits-per-day", type=int, default=20, help="deletes and edits a day, too")
    ap.add_argument("--card-gb", type=int, default=32)
    ap.add_argument("--cycles", type=int, default=500, help="ASSUMED full writes a card takes")
    ap.add_argument("--amplification", type=float, default=10, help="ASSUMED inside the card")
    ap.add_argument("--no-loop", action="store_true", help="no ext4 card of its own (root's)")
    ap.add_argument("--dir", type=Path, default=Path("/var/tmp"), help="on a disk, not a tmpfs")
    args = ap.parse_args()
    if fs_type(args.dir) == "tmpfs":
        raise SystemExit(f"{args.dir} is a tmpfs: nothing would reach storage; use --dir")
    use_loop = not args.no_loop and os.geteuid() == 0 and shutil.which("losetup") is not None
    env = {**os.environ, **RELAXED_ENV, **UNIT_ENV, "PYCHAT_AUTH_SCRYPT_N": "1024"}
    env["PYTHONPATH"] = str(ROOT)
    with (
        tempfile.TemporaryDirectory(prefix="pychat-card-", dir=args.dir) as tmp,
        Card(Path(tmp), 1024, use_loop) as card,
    ):
        data = card.mount / "data"
        data.mkdir()
        proc, url = start_server(data, env)
        wal = WalWatch(data / "pychat.db-shm")
        wal.start()
        meter = Meter(proc.pid, card, data, wal)
        try:
            asyncio.run(scenario(args, url, meter))
        finally:
            wal.stop()
            proc.terminate()
            proc.wait(30)
        report(meter, args, bool(card.device))


if __name__ == "__main__":
    main()
