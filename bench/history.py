"""Scale of history: a million messages, measured through the real server (issue 17).

Generates (once, cached in bench/.cache/) a data dir with 1,000,000 messages in 500 rooms
and 5,000 users, written straight into the schema the migrations make, as the server
writes it: thread replies, mentions (`@name` in the body and a `mentions` row, `@room` as
the flag), reactions, read markers of every member, thread markers, the search index
filled by its triggers in transactions of 500 (so FTS5 merges segments as it does under
the server) and the `message.new` events of the newest 10,000 messages only (the server
prunes the rest: event_retention.py). No ANALYZE: the server never runs one either.

Then starts the real `pychat serve` on a copy and measures over HTTP on loopback (a
keep-alive connection; the figures include HTTP and JSON, an upper bound of server time):
search (common and rare words, prefixes, two words, in one room), opening a room at its
first unread as the app does (the room's state, the two pages around the marker, the
read markers; then for a member who never read it, and for one joining it), history pages
from the newest to the oldest of a 400,000-message room, and the database's size per
message. `--spa` also loads 10,000 messages of one room into the
web app by scrolling up, in Debian's Chromium: frame rate while scrolling, JS heap, DOM.

    .venv/bin/python bench/history.py            # builds the cache on first use (~3 min)
    .venv/bin/python bench/history.py --spa      # --spa-only: the web app alone
    .venv/bin/python bench/history.py --explain  # EXPLAIN QUERY PLAN of the read queries
    .venv/bin/python bench/history.py --parts    # also GET /api/rooms's parts, in-process
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import shutil
import sqlite3
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

import aiohttp
from _common import CACHE_DIR, log, percentile
from _provision import COOKIE, Api, _init, copy_template, start_real

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from appliance.passwords import hash_password_sync

MESSAGES, ROOMS, USERS = 1_000_000, 500, 5_000
BIG_SHARE = 0.4  # of all messages, in room "general" (every user is a member)
TENK = 10_000  # messages in room "tenk", for the web app's long scroll
EVENTS_KEPT = 10_000  # ws.replay_limit: older events are pruned by the server
PASSWORD = "bench-user-pass-1"
BENCH_USER = "u00000"  # in general, tenk and 60 other rooms; 3,000 unread in general
UNREAD_IN_GENERAL = 3_000
NEVER_READ = "u00001"  # never opened hq (no marker, as members from before joins set one)
JOINER = "u00002"  # not in hq until the bench joins it (the join sets the marker)
RARE = "quokka"  # planted in 40 messages
EMOJI = ["👍", "🎉", "😂", "❤️", "👀", "🙏"]
SPAN_MS = 2 * 365 * 86_400_000  # two years of history
START_MS = 1_700_000_000_000

COMMON = (  # noqa: SIM905 (a sentence reads better than a list of 70 strings)
    "the to and a of is in it for on that you this we be with at have can not are do so but"
    " just if will deploy meeting release build server please thanks today tomorrow review"
    " ticket customer invoice report update fixed issue office lunch call monday friday"
    " printer network backup database schedule budget project client design draft team"
    " weekly sprint merge branch test failing green done yes no maybe later morning"
).split()


def vocabulary(rng: random.Random) -> tuple[list[str], list[float]]:
    """Common words, then 40,000 made-up ones; Zipf weights (rank^-1.05)."""
    syllables = [a + b for a in "bcdfghjklmnprstvwz" for b in "aeiou"]
    made: set[str] = set()
    while len(made) < 40_000:
        word = "".join(rng.choice(syllables) for _ in range(rng.randint(2, 4)))
        if word not in COMMON and word != RARE:
            made.add(word)
    words = COMMON + sorted(made)
    rng.shuffle(words[len(COMMON) :])
    weights = list(itertools.accumulate(1 / (r + 1) ** 1.05 for r in range(len(words))))
    return words, weights


def build(data: Path) -> dict[str, Any]:
    """The data dir (after `pychat init`) filled; returns what the measurements need."""
    rng = random.Random(17)
    t0 = time.monotonic()
    conn = sqlite3.connect(data / "pychat.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")  # the generator's own speed; the data is the same
    conn.execute("PRAGMA cache_size=-200000")
    words, weights = vocabulary(rng)
    password = hash_password_sync(PASSWORD, 1024)  # one salt for all: a bench, not a vault
    conn.execute("BEGIN")
    user_ids: list[int] = []
    names: dict[int, str] = {}
    for i in range(USERS):
        name = f"u{i:05d}"
        (uid,) = conn.execute(
            "INSERT INTO users(username, display_name, password_hash, created_at)"
            " VALUES (?, ?, ?, ?) RETURNING id",
            (name, f"User {i}", password, START_MS),
        ).fetchone()
        user_ids.append(uid)
        names[uid] = name
    bench_uid = user_ids[0]
    rooms: list[int] = []
    members: dict[int, list[int]] = {}
    for r in range(ROOMS):
        kind = "channel" if r < 400 else "private"
        name = {0: "hq", 1: "tenk"}.get(r, f"room-{r:03d}")
        (rid,) = conn.execute(
            "INSERT INTO rooms(kind, name, created_by, created_at) VALUES (?, ?, ?, ?)"
            " RETURNING id",
            (kind, name, user_ids[1], START_MS),
        ).fetchone()
        rooms.append(rid)
        if r == 0:
            people = list(user_ids)
        else:
            people = rng.sample(user_ids[1:], rng.randint(8, 150))
            if r < 62:
                people.append(bench_uid)
        members[rid] = people
        conn.executemany(
            "INSERT INTO members(room_id, user_id, role, joined_at) VALUES (?, ?, ?, ?)",
            [(rid, u, "owner" if u == people[0] else "member", START_MS) for u in people],
        )
    conn.execute("COMMIT")
    general, tenk = rooms[0], rooms[1]
    # Which room each message goes to: 40 % general, 10,000 in tenk, the rest spread.
    big = int(MESSAGES * BIG_SHARE)
    targets = [general] * big + [tenk] * TENK
    targets += [rng.choice(rooms[2:]) for _ in range(MESSAGES - len(targets))]
    rng.shuffle(targets)
    recent: dict[int, deque[int]] = {r: deque(maxlen=50) for r in rooms}
    timeline: dict[int, list[int]] = {r: [] for r in rooms}
    threads: dict[int, tuple[int, int]] = {}  # root -> (root author, last reply)
    rare_at = set(rng.sample(range(MESSAGES), 40))
    batch: list[tuple[Any, ...]] = []
    mentions: list[tuple[int, int, int]] = []
    reactions: list[tuple[int, int, str, int]] = []
    events: list[tuple[int, str, int, str, int]] = []

    def flush() -> None:
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO messages(id, room_id, author_id, thread_id, body, client_id,"
            " created_at, mention_room) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            batch,
        )
        conn.executemany("INSERT INTO mentions VALUES (?, ?, ?)", mentions)
        conn.executemany("INSERT INTO reactions VALUES (?, ?, ?, ?)", reactions)
        conn.executemany(
            "INSERT INTO events(seq, kind, room_id, data, created_at) VALUES (?, ?, ?, ?, ?)",
            events,
        )
        conn.execute("COMMIT")
        for done in (batch, mentions, reactions, events):
            done.clear()

    for i, room in enumerate(targets):
        mid = i + 1
        people = members[room]
        author = rng.choice(people)
        now = START_MS + mid * SPAN_MS // MESSAGES
        thread = None
        if recent[room] and rng.random() < 0.05:
            thread = rng.choice(recent[room])
            threads[thread] = (threads.get(thread, (author, 0))[0], mid)
        body_words = rng.choices(words, cum_weights=weights, k=rng.randint(2, 18))
        if i in rare_at:
            body_words.insert(rng.randrange(len(body_words)), RARE)
        named: set[int] = set()
        mention_room = 0
        if rng.random() < 0.03:
            who = rng.choice(people)
            if who != author:
                named.add(who)
                body_words.append("@" + names[who])
        elif rng.random() < 0.003:
            mention_room = 1
            body_words.append("@room")
        body = " ".join(body_words)
        batch.append((mid, room, author, thread, body, f"c{mid}", now, mention_room))
        mentions.extend((mid, who, room) for who in named)
        if rng.random() < 0.08:
            for emoji in set(rng.choices(EMOJI, k=rng.randint(1, 3))):
                reactions.append((mid, rng.choice(people), emoji, now + 1000))
        if thread is None:
            recent[room].append(mid)
            timeline[room].append(mid)
        if mid > MESSAGES - EVENTS_KEPT:
            message: dict[str, Any] = {
                "id": mid, "room": room, "author": author, "thread": thread, "body": body,
                "attachments": [], "created_at": now, "edited_at": None, "deleted": False,
                "client_id": f"c{mid}", "reply_count": 0, "last_reply_at": None,
                "reactions": {}, "mentions": sorted(named), "mention_room": bool(mention_room),
                "call": None,
            }  # fmt: skip
            events.append((mid, "message.new", room, json.dumps({"message": message}), now))
        if len(batch) == 500:
            flush()
        if mid % 100_000 == 0:
            log(f"  {mid:,} messages, {time.monotonic() - t0:.0f} s")
    flush()
    # Read markers: most members are up to date, a third are some way behind.
    conn.execute("BEGIN")
    for room in rooms:
        ids = timeline[room]
        if not ids:
            continue
        rows = []
        for u in members[room]:
            back = 0 if rng.random() < 0.66 else rng.randint(1, min(len(ids), 500))
            if u == bench_uid:
                back = UNREAD_IN_GENERAL if room == general else rng.randint(0, 50)
            if back < len(ids):
                rows.append((room, u, ids[len(ids) - 1 - back]))
        conn.executemany("INSERT INTO read_markers VALUES (?, ?, ?)", rows)
    conn.executemany(
        "INSERT INTO thread_reads VALUES (?, ?, ?)",
        [(root, author, last) for root, (author, last) in threads.items()],
    )
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    log(f"  built in {time.monotonic() - t0:.0f} s")
    gen = timeline[general]
    return {
        "bench_user": BENCH_USER,
        "general": general,
        "tenk": tenk,
        "general_marker": gen[len(gen) - 1 - UNREAD_IN_GENERAL],
        "general_count": len(gen),
        "words": [*COMMON[:3], words[len(COMMON) + 5], words[5000]],
    }


def prepared(fresh: bool) -> tuple[Path, dict[str, Any]]:
    where = CACHE_DIR / f"history-m{MESSAGES}-r{ROOMS}-u{USERS}"
    meta_path = where / "meta.json"
    if meta_path.exists() and not fresh:
        return where, json.loads(meta_path.read_text())
    if where.exists():
        shutil.rmtree(where)
    log(f"generating {MESSAGES:,} messages in {ROOMS} rooms, {USERS:,} users into {where}")
    _init(where / "data")
    meta = build(where / "data")
    meta_path.write_text(json.dumps(meta))
    return where, meta


async def timed(api: Api, path: str, cookie: str, n: int) -> list[float]:
    """`n` sequential GETs of `path`: each one's milliseconds, sorted."""
    times = []
    for _ in range(n):
        t = time.perf_counter()
        async with api.http.get(api.base + path, headers={"Cookie": f"{COOKIE}={cookie}"}) as r:
            await r.read()
            if r.status != 200:
                raise RuntimeError(f"GET {path} -> {r.status}")
        times.append((time.perf_counter() - t) * 1e3)
    return sorted(times)


def row(label: str, times: list[float], goal: float | None = None) -> str:
    p50, p95 = percentile(times, 50), percentile(times, 95)
    mark = "" if goal is None else ("  ok" if p95 < goal else f"  MISSES < {goal:g} ms")
    return f"  {label:<44} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  max {times[-1]:7.1f}{mark}"


async def measure(base: str, meta: dict[str, Any], reps: int) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        api = Api(http, base)
        _user, cookie = await api.login(meta["bench_user"], PASSWORD)
        await timed(api, "/api/health", cookie, 20)  # warm the connection
        base_rtt = percentile(await timed(api, "/api/me", cookie, 50), 50)
        print(f"\nloopback round trip of GET /api/me: p50 {base_rtt:.1f} ms")
        general, tenk = meta["general"], meta["tenk"]
        common, rare_made = meta["words"][:3], meta["words"][3:]
        print("\nsearch (50 results, as the app asks; goal p95 < 50 ms)")
        queries = {
            f"common word '{common[0]}'": common[0],
            f"common word '{common[2]}'": common[2],
            f"frequent made-up word '{rare_made[0]}'": rare_made[0],
            f"rare made-up word '{rare_made[1]}'": rare_made[1],
            f"rarest '{RARE}' (40 messages)": RARE,
            "prefix 'de' (deploy, design, ...)": "de",
            "prefix 'ba'": "ba",
            "prefix 'quok'": "quok",
            "two words 'deploy server'": "deploy server",
            "a word no message has": "xylophonist",
        }
        for label, q in queries.items():
            times = await timed(api, f"/api/search?q={q}&limit=50", cookie, reps)
            print(row(label, times, 50))
        times = await timed(api, f"/api/search?q=the&room={general}&limit=50", cookie, reps)
        print(row("'the' in general (400k messages)", times, 50))
        times = await timed(api, f"/api/search?q=the&room={tenk}&limit=50", cookie, reps)
        print(row("'the' in tenk (10k messages)", times, 50))
        mid = meta["depths"][2][1]
        times = await timed(api, f"/api/search?q=the&before={mid}&limit=50", cookie, reps)
        print(row("'the', a page from the middle (before=)", times, 50))

        print("\nopening general at its first unread (3,000 back; goal < 30 ms each)")
        marker = meta["general_marker"]
        page = f"/api/rooms/{general}/messages"
        steps = {
            "GET /api/rooms (62 rooms with unread counts)": "/api/rooms",
            "GET /api/rooms/{id} (its state)": f"/api/rooms/{general}",
            "page before the marker (25)": f"{page}?before={marker + 1}&limit=25",
            "page after the marker (25)": f"{page}?after={marker}&limit=25",
            "GET /api/rooms/{id}/reads (5,000 members)": f"/api/rooms/{general}/reads",
        }  # fmt: skip
        for label, path in steps.items():
            times = await timed(api, path, cookie, reps)
            print(row(label, times, 30 if "rooms (62" not in label else None))

        _user, never = await api.login(NEVER_READ, PASSWORD)
        print("\nthe same for a member who never read hq (no read marker: 380,000 unread)")
        times = await timed(api, f"/api/rooms/{general}", never, reps)
        print(row("GET /api/rooms/{id} (its state)", times, 30))
        times = await timed(api, "/api/rooms", never, reps)
        print(row("GET /api/rooms", times))
        times = await timed(api, f"{page}?after=0&limit=25", never, reps)
        print(row("page after the marker (the first 25)", times, 30))
        room, _ = await api.call("GET", f"/api/rooms/{general}", cookie=never)
        print(f"  unread {room['room']['unread']}, mentions {room['room']['mentions']}")

        _user, joiner = await api.login(JOINER, PASSWORD)
        print("\na newcomer joining hq now (POST /api/rooms/{id}/join)")
        t = time.perf_counter()
        room, _ = await api.call("POST", f"/api/rooms/{general}/join", cookie=joiner)
        print(f"  the join: {(time.perf_counter() - t) * 1e3:.1f} ms", end="")
        print(f"; then unread {room['room']['unread']}, mentions {room['room']['mentions']}")
        times = await timed(api, f"/api/rooms/{general}", joiner, reps)
        print(row("GET /api/rooms/{id} (its state)", times, 30))
        times = await timed(api, "/api/rooms", joiner, reps)
        print(row("GET /api/rooms", times))

        print(f"\nhistory pages of 100 in general ({meta['general_count']:,} timeline messages)")
        times = await timed(api, f"/api/rooms/{general}/messages?limit=100", cookie, reps)
        print(row("newest page", times))
        for depth, before in meta["depths"]:
            path = f"/api/rooms/{general}/messages?before={before}&limit=100"
            times = await timed(api, path, cookie, reps)
            print(row(f"before= {depth} back (id {before:,})", times))


def newcomers(db: Path, meta: dict[str, Any]) -> None:
    """One member of hq who never opened it (no read marker: everything is unread, as for
    someone added before joining set a marker), and one who is not in hq yet (the bench
    joins it)."""
    conn = sqlite3.connect(db, isolation_level=None)
    for table, name in (
        ("read_markers", NEVER_READ),
        ("read_markers", JOINER),
        ("members", JOINER),
    ):
        conn.execute(
            f"DELETE FROM {table} WHERE room_id = ?"
            " AND user_id = (SELECT id FROM users WHERE username = ?)",
            (meta["general"], name),
        )
    conn.close()


def depths(db: Path, meta: dict[str, Any]) -> list[tuple[str, int]]:
    """Message ids of the big room's timeline at some depths back from its newest."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    count = meta["general_count"]
    found = []
    for share in (0.001, 0.1, 0.5, 0.9, 0.999):
        (mid,) = conn.execute(
            "SELECT id FROM messages WHERE room_id = ? AND thread_id IS NULL"
            " ORDER BY id DESC LIMIT 1 OFFSET ?",
            (meta["general"], int(share * count)),
        ).fetchone()
        found.append((f"{share * 100:g} %", int(mid)))
    conn.close()
    return found


def sizes(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    total = db.stat().st_size
    (page,) = conn.execute("PRAGMA page_size").fetchone()
    (free,) = conn.execute("PRAGMA freelist_count").fetchone()
    used = total - free * page
    print(
        f"\ndatabase file {total / 1e6:,.0f} MB ({free * page / 1e6:,.0f} MB of it free pages);"
        f" in use {used / 1e6:,.0f} MB, {used / MESSAGES:,.0f} bytes per message"
    )
    for copy in db.parent.glob("db-before-v*.sqlite"):
        print(f"  the upgrade's copy {copy.name}: {copy.stat().st_size / 1e6:,.0f} MB")
    parts = conn.execute(
        "SELECT CASE WHEN d.name LIKE 'messages_fts%' THEN 'search index (messages_fts*)'"
        " ELSE d.name END AS part, sum(d.pgsize) FROM dbstat d GROUP BY part"
        " ORDER BY 2 DESC LIMIT 12"
    ).fetchall()
    for name, size in parts:
        print(f"  {name:<32} {size / 1e6:8.1f} MB  {size / MESSAGES:6.0f} B/message")
    conn.close()


class _Capture:
    """A stand-in reader that keeps the SQL a storage function would run."""

    sql = ""
    params: Any = ()

    async def fetchall(self, sql: str, params: Any = ()) -> list[Any]:
        self.sql, self.params = sql, params
        return []

    async def fetchone(self, sql: str, params: Any = ()) -> None:
        self.sql, self.params = sql, params


def explain(db: Path, meta: dict[str, Any]) -> None:
    """EXPLAIN QUERY PLAN of the read queries, with the SQL the storage layer runs, on the
    copy the server migrated."""
    from appliance.storage import messages, rooms

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    (uid,) = conn.execute("SELECT id FROM users WHERE username = ?", (BENCH_USER,)).fetchone()
    big, marker = meta["general"], meta["general_marker"]
    calls: dict[str, Any] = {
        "search 'the'": lambda c: messages.search(c, uid, '"the"*', None, None, 51),
        "search 'de' in hq": lambda c: messages.search(c, uid, '"de"*', big, None, 51),
        "page after": lambda c: messages.page(c, big, before=None, after=marker, limit=25),
        "page before": lambda c: messages.page(c, big, before=marker, after=None, limit=25),
        "room states": lambda c: rooms.states_for(c, uid),
        "member lists": lambda c: rooms.members_of_rooms(c, [big, meta["tenk"]]),
    }  # fmt: skip
    for label, call in calls.items():
        capture = _Capture()
        asyncio.run(call(capture))
        print(f"\n{label}:\n  {capture.sql}")
        for r in conn.execute(f"EXPLAIN QUERY PLAN {capture.sql}", capture.params):
            print("   ", r)
    conn.close()


class _Sync:
    """A storage Reader over a plain sqlite3 connection: storage functions timed in-process."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    async def fetchall(self, sql: str, params: Any = ()) -> list[Any]:
        return self.conn.execute(sql, params).fetchall()

    async def fetchone(self, sql: str, params: Any = ()) -> Any:
        return self.conn.execute(sql, params).fetchone()


async def _parts(db: Path, reps: int) -> None:
    from appliance.storage import rooms

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    reader = _Sync(conn)
    print("\nGET /api/rooms in parts, in-process (the migrated copy; no HTTP)")
    for name in (BENCH_USER, NEVER_READ):
        (uid,) = conn.execute("SELECT id FROM users WHERE username = ?", (name,)).fetchone()
        spent: dict[str, list[float]] = {"room states": [], "member lists": [], "to JSON": []}
        for _ in range(reps):
            t0 = time.perf_counter()
            states = await rooms.states_for(reader, uid)
            t1 = time.perf_counter()
            members = await rooms.members_of_rooms(reader, [int(s["id"]) for s in states])
            t2 = time.perf_counter()
            json.dumps({"rooms": [rooms.to_api(s, members[int(s["id"])], s) for s in states]})
            t3 = time.perf_counter()
            for part, took in zip(spent, (t1 - t0, t2 - t1, t3 - t2), strict=True):
                spent[part].append(took * 1e3)
        print(f"  {name} ({len(states)} rooms):")
        for part, times in spent.items():
            print(row(part, sorted(times)))
    conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fresh", action="store_true", help="generate the database again")
    parser.add_argument("--reps", type=int, default=40, help="requests per figure")
    parser.add_argument("--spa", action="store_true", help="also the web app's long scroll")
    parser.add_argument("--spa-minutes", type=float, default=8, help="longest scroll up")
    parser.add_argument("--spa-only", action="store_true", help="skip the API figures")
    parser.add_argument("--explain", action="store_true", help="query plans only")
    parser.add_argument("--parts", action="store_true", help="/api/rooms's parts in-process")
    args = parser.parse_args()
    where, meta = prepared(args.fresh)
    meta["depths"] = depths(where / "data" / "pychat.db", meta)
    data = copy_template(where)
    try:
        newcomers(data / "pychat.db", meta)
        t = time.monotonic()
        server = start_real(data, {"PYCHAT_AUTH_SCRYPT_N": "1024"})
        log(f"server listening after {time.monotonic() - t:.1f} s (migrations included)")
        try:
            if not (args.spa_only or args.explain):
                asyncio.run(measure(server.base_url, meta, args.reps))
            if args.spa and not args.explain:
                from history_spa import measure_spa

                measure_spa(server.base_url, meta, PASSWORD, args.spa_minutes)
        finally:
            server.stop()
        if args.explain:  # the schema as the server migrated it, the cache's is older
            explain(data / "pychat.db", meta)
            return
        if args.parts:
            asyncio.run(_parts(data / "pychat.db", args.reps))
        sizes(data / "pychat.db")  # as the server left it: migrated, checkpointed
    finally:
        shutil.rmtree(data.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
