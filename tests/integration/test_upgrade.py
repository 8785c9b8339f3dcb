"""Upgrades: a data folder made by an earlier release, through that release's own API, is
opened by this one (issue 19, item 5).

A released schema version is a set of migrations 1..N that the code once stood at: its
commits come from git history (`git log` of the migrations folder), the newest that runs
is taken out with `git archive` and started against this venv. Migrations landed out of
numbering order (0005 before 0004 and 0003, 0008 before 0007, 0011 before 0010), so
versions 3, 4, 7 and 10 never stood alone, and the one commit at 8 needs 0009's column:
it is skipped, saying so. The versions follow the migrations present, never a fixed list.
Without the history (a shallow clone) those tests skip; the last test here needs no git:
the runner builds each schema version (`migrate(target=)`) and rows written as version 1
wrote them, and this release upgrades that.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite
import pytest

from appliance.db import SqliteDatabase, migrate, migration_scripts
from appliance.db_upgrade import UPGRADE_COPY_DAYS, MigrationFailed
from tests.client import Client, Socket
from tests.conftest import TEST_ENV, USER_PASSWORD, new_room
from tests.integration.uploading import fetch, upload
from tests.server import ADMIN_PASSWORD, Server, pychat

REPO = Path(__file__).resolve().parents[2]
MIGRATIONS = "appliance/migrations"
SCRIPTS = migration_scripts()
NEWEST = SCRIPTS[-1][0]
UPLOADS_FROM = 3  # the schema version that brought uploads (0003_uploads.sql)
START_S = 60.0  # a server's start on a loaded 2-core machine


def git(*args: str) -> str:
    """git's output in this repository; '' when it fails (no git, not a clone)."""
    try:
        done = subprocess.run(
            ["git", "-C", str(REPO), *args], capture_output=True, text=True, check=False
        )
    except OSError:
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def migration_versions(commit: str) -> list[int]:
    names = git("ls-tree", "--name-only", commit, f"{MIGRATIONS}/").split()
    return sorted(int(Path(n).name[:4]) for n in names if Path(n).name.endswith(".sql"))


def released_schemas() -> dict[int, list[str]]:
    """Schema version -> the commits whose migrations are exactly 1..version, newest first,
    for every version below this tree's newest. Commits landed out of numbering order
    (0011 before 0010, 0005 before 0004 and 0003): a commit with a gap in its numbering
    released no schema and is left out; so are versions that never stood alone."""
    changes = git("log", "--format=%H", "--", f"{MIGRATIONS}/").split()  # newest first
    found: dict[int, list[str]] = {}
    end = "HEAD"
    for change in changes:
        versions = migration_versions(change)
        if versions and versions == list(range(1, versions[-1] + 1)) and versions[-1] < NEWEST:
            since = git("rev-parse", "--verify", "--quiet", f"{change}^")
            span = [end, f"^{since}"] if since else [end]
            found[versions[-1]] = git("rev-list", *span).split()
        end = f"{change}^"
    return {v: commits for v, commits in found.items() if commits}


RELEASES = released_schemas()
NO_HISTORY = pytest.mark.skip(reason="no earlier release in this clone's history (shallow?)")
VERSIONS = [pytest.param(v, id=f"v{v}") for v in sorted(RELEASES)] or [
    pytest.param(0, id="none", marks=NO_HISTORY)
]
TRIES = 4  # commits tried per version: some landed broken (code ahead of its own parts)


def release_tree(commit: str, root: Path) -> Path:
    """The `appliance` package of `commit` in `root/<commit>` (made once per session)."""
    tree = root / commit
    if (tree / "appliance").is_dir():
        return tree
    tree.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", commit, "appliance"], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    return tree


def code_of(tree: Path) -> dict[str, str]:
    """Environment that runs `python -m appliance` from `tree`: no current directory on the
    path (PYTHONSAFEPATH), `tree` before the venv's editable install of this work tree."""
    return {"PYTHONSAFEPATH": "1", "PYTHONPATH": str(tree)}


@pytest.fixture(scope="session")
def releases(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("releases")


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for srv in started:
        srv.stop()


def start(started: list[Server], data: Path, tree: Path | None = None) -> Server:
    env = {**TEST_ENV, **(code_of(tree) if tree else {})}
    srv = Server(data, env=env)
    started.append(srv)
    return srv.start(timeout=START_S)


def stop(started: list[Server], srv: Server) -> None:
    assert srv.stop() == 0, srv.log()
    started.remove(srv)


# -- what a release leaves behind ----------------------------------------------------------------


@dataclass
class Made:
    """What the old release acknowledged, to be found again after the upgrade."""

    version: int
    alice: str
    bob: str
    room: int
    word: str  # only in the first message: search finds it
    timeline: list[dict[str, Any]]
    reply: dict[str, Any]
    file: bytes | None
    mark: int  # bob's hello head before the last message: a replay from here
    after_mark: list[int]  # the ids of the messages sent after `mark`
    head: int


async def person(admin: Client, url: str, prefix: str) -> Client:
    name = f"{prefix}{uuid.uuid4().hex[:6]}"
    await admin.post("/api/admin/users", {"username": name, "password": USER_PASSWORD}, expect=201)
    return await Client(url).login(name, USER_PASSWORD)


async def fill(url: str, version: int) -> Made:
    """Users, a room, messages, a thread, a reaction, an upload (from v3), a read marker:
    through the old release's API, each acknowledged."""
    admin = await Client(url).login("admin", ADMIN_PASSWORD)
    alice = await person(admin, url, "alice")
    bob = await person(admin, url, "bob")
    try:
        room = (await new_room(alice, bob, name="before-the-upgrade"))["id"]
        a = await alice.connect()
        b = await bob.connect()
        word = f"zebra{uuid.uuid4().hex[:6]}"
        first = await a.send_message(room, f"written by schema {version}: {word}")
        await b.ok({"type": "reaction.set", "message": first["id"], "emoji": "👍", "on": True})
        reply = await b.send_message(room, "an answer in the thread", thread=first["id"])
        await b.ok({"type": "read.mark", "room": room, "message": first["id"]})
        timeline = [first]
        file = None
        if version >= UPLOADS_FROM:
            file = b"kept across the upgrade\n" * 200
            up = await upload(alice, file, name="notes.txt", content_type="text/plain")
            timeline.append(await a.send_message(room, "the notes", attachments=[up["id"]]))
        mark = (await bob.connect(since=None)).hello_reply["data"]["head"]
        last = await a.send_message(room, "after bob's marker")
        timeline.append(last)
        head = (await bob.connect(since=None)).hello_reply["data"]["head"]
        return Made(
            version, alice.user["username"], bob.user["username"], room, word,
            timeline, reply, file, mark, [last["id"]], head,
        )  # fmt: skip
    finally:
        for c in (admin, alice, bob):
            await c.close()


def replayed_messages(sock: Socket, since: int, head: int) -> list[int]:
    """The message ids of the message.new events `hello` replayed in (since, head]: they
    all arrive before its reply, which `connect` waited for."""
    replayed = [e for e in sock.events() if e["seq"] <= head]
    assert all(e["seq"] > since for e in replayed), replayed
    return [e["data"]["message"]["id"] for e in replayed if e["kind"] == "message.new"]


async def check(url: str, made: Made) -> None:
    """Everything the old release acknowledged is there, and the new release works on it."""
    alice = await Client(url).login(made.alice, USER_PASSWORD)
    bob = await Client(url).login(made.bob, USER_PASSWORD)
    try:
        rooms = {r["id"]: r for r in (await bob.get("/api/rooms"))["rooms"]}
        room = rooms[made.room]
        assert room["name"] == "before-the-upgrade"
        assert room["last_read_message_id"] == made.timeline[0]["id"]
        assert room["unread"] == len(made.timeline) - 1  # alice's, after bob's marker

        history = (await bob.get(f"/api/rooms/{made.room}/messages"))["messages"]
        assert [m["id"] for m in history] == [m["id"] for m in made.timeline]
        assert [m["body"] for m in history] == [m["body"] for m in made.timeline]
        first = history[0]
        assert first["reactions"] == {"👍": [bob.id]}
        assert first["reply_count"] == 1

        thread = await bob.get(f"/api/messages/{first['id']}/thread")
        assert [m["body"] for m in thread["replies"]] == [made.reply["body"]]

        found = (await bob.get(f"/api/search?q={made.word}"))["messages"]
        assert [m["id"] for m in found] == [first["id"]]

        if made.file is not None:
            attachment = history[1]["attachments"][0]
            status, body, _ = await fetch(bob, attachment["url"])
            assert (status, body) == (200, made.file)

        # A device that was online before the upgrade resumes from the seq it had.
        b = await bob.connect(since=made.mark)
        assert not b.hello_reply["data"].get("resync"), b.hello_reply
        assert b.hello_reply["data"]["head"] >= made.head
        assert replayed_messages(b, made.mark, made.head) == made.after_mark

        # And the chat goes on: live, and found by search.
        a = await alice.connect()
        sent = await a.send_message(made.room, f"after the upgrade {made.word}x")
        await b.wait_for(lambda f: f.get("data", {}).get("message", {}).get("id") == sent["id"])
        found = (await bob.get(f"/api/search?q={made.word}x"))["messages"]
        assert [m["id"] for m in found] == [sent["id"]]
    finally:
        await alice.close()
        await bob.close()


def schema_of(db: Path) -> tuple[int, str]:
    conn = sqlite3.connect(db)
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        return int(version), conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


async def made_by_release(
    version: int, root: Path, servers: list[Server], tmp_path: Path
) -> tuple[Path, Path, Made]:
    """A data folder filled by a release with schema `version` (stopped), its code, and
    what it acknowledged. Tries the newest commits of that schema first; one that does not
    run (it landed ahead of its own parts) is passed over, and the test skipped, saying
    why, if none of them runs."""
    failures = []
    commits = RELEASES[version]
    # The newest, then the first (which brought the migration with the code needing it).
    for commit in dict.fromkeys([commits[0], commits[-1], *commits[1 : TRIES - 1]]):
        tree = release_tree(commit, root)
        data = tmp_path / f"data-{commit[:10]}"
        data.mkdir()
        try:
            init_data_with(tree, data)
            old = start(servers, data, tree)
            made = await fill(old.url, version)
        except Exception as e:
            failures.append(f"{commit[:10]}: {type(e).__name__} {str(e)[:300]}")
            for srv in servers:
                srv.stop()
            servers.clear()
            continue
        stop(servers, old)
        return tree, data, made
    pytest.skip(f"no commit of schema version {version} runs: " + " | ".join(failures))


# -- the tests -----------------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
async def test_data_made_by_an_earlier_release_is_upgraded_and_works(
    version: int, releases: Path, servers: list[Server], tmp_path: Path
) -> None:
    _, data, made = await made_by_release(version, releases, servers, tmp_path)
    assert schema_of(data / "pychat.db") == (version, "ok")

    new = start(servers, data)
    assert f"database upgraded from schema version {version} to {NEWEST}" in new.log()
    await check(new.url, made)
    stop(servers, new)

    assert schema_of(data / "pychat.db") == (NEWEST, "ok")
    # The copy to go back to: the old release's database as it left it.
    assert schema_of(data / f"db-before-v{NEWEST}.sqlite") == (version, "ok")


def broken_release(root: Path) -> Path:
    """This work tree's code with one more migration that fails half-way (after a table and
    a column were made): a stand-in for a release whose migration meets data it did not
    expect."""
    tree = root / "broken"
    shutil.copytree(
        REPO / "appliance",
        tree / "appliance",
        ignore=shutil.ignore_patterns("spa", "__pycache__"),
    )
    (tree / MIGRATIONS / f"{NEWEST + 1:04d}_broken.sql").write_text(BROKEN)
    return tree


BROKEN = (
    "CREATE TABLE upgrade_probe (x INTEGER NOT NULL) STRICT;\n"
    "ALTER TABLE users ADD COLUMN upgrade_probe TEXT;\n"
    "INSERT INTO upgrade_probe VALUES (NULL);\n"
)


async def test_a_failing_migration_undoes_the_whole_upgrade_without_git(tmp_path: Path) -> None:
    """The same as below in-process, for clones without history: from two versions back,
    the real migrations then the broken one, and the file is as it was."""
    path = tmp_path / "pychat.db"
    conn = await aiosqlite.connect(path, isolation_level=None)
    try:
        await migrate(conn, path, target=NEWEST - 2)
        await conn.executescript(f"BEGIN;\n{V1_ROWS}\nCOMMIT;")
    finally:
        await conn.close()
    before = path.read_bytes()
    conn = await aiosqlite.connect(path, isolation_level=None)
    try:
        with pytest.raises(MigrationFailed) as refused:
            await migrate(conn, path, scripts=[*SCRIPTS, (NEWEST + 1, BROKEN)])
    finally:
        await conn.close()
    assert f"from schema version {NEWEST - 2} to {NEWEST + 1}" in str(refused.value)
    assert path.read_bytes() == before
    assert schema_of(path) == (NEWEST - 2, "ok")
    assert not list(tmp_path.glob("db-before-v*"))


async def test_a_failed_migration_leaves_the_old_data_as_it_was(
    releases: Path, servers: list[Server], tmp_path: Path
) -> None:
    # The newest release there is: the one an appliance in the field runs.
    if not RELEASES:
        pytest.skip("no earlier release in this clone's history (shallow?)")
    previous = max(RELEASES)
    tree, data, made = await made_by_release(previous, releases, servers, tmp_path)
    db = data / "pychat.db"
    before = db.read_bytes()

    refused = pychat("serve", "--listen", "127.0.0.1:0", data=data,
                     env={**TEST_ENV, **code_of(broken_release(tmp_path))})  # fmt: skip
    assert refused.returncode == 3, refused.stdout + refused.stderr
    # Byte for byte: every migration of that start (the real ones before it too) undone.
    assert db.read_bytes() == before
    assert not list(data.glob("db-before-v*")), "a copy of an unchanged database was kept"
    # One line that says what happened, not a traceback.
    assert (
        f"could not be upgraded from schema version {previous} to {NEWEST + 1}" in refused.stderr
    ), refused.stderr
    assert "left exactly as it was" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert "Pychat listening" not in refused.stdout

    # The old release starts on it and has everything.
    again = start(servers, data, tree)
    alice = await Client(again.url).login(made.alice, USER_PASSWORD)
    try:
        history = (await alice.get(f"/api/rooms/{made.room}/messages"))["messages"]
        assert [m["id"] for m in history] == [m["id"] for m in made.timeline]
    finally:
        await alice.close()
    stop(servers, again)

    # And this release upgrades it once the migration is fixed (here: the real ones).
    new = start(servers, data)
    await check(new.url, made)


def init_data_with(tree: Path, data: Path) -> None:
    args = ("init", "--org", "Acme", "--admin", "admin", "--password-stdin")
    done = pychat(*args, data=data, stdin=ADMIN_PASSWORD + "\n", env={**TEST_ENV, **code_of(tree)})
    assert done.returncode == 0, done.stderr


async def test_the_copy_kept_by_an_upgrade_goes_after_a_week(tmp_path: Path) -> None:
    """It holds what was deleted since the upgrade: kept for going back, not for ever."""
    path = tmp_path / "pychat.db"
    conn = await aiosqlite.connect(path, isolation_level=None)
    try:
        await migrate(conn, path, target=NEWEST - 1)
    finally:
        await conn.close()
    assert not list(tmp_path.glob("db-before-v*"))  # a new database: nothing to go back to

    await reopen(path)
    copy = tmp_path / f"db-before-v{NEWEST}.sqlite"
    assert schema_of(copy) == (NEWEST - 1, "ok")

    week = UPGRADE_COPY_DAYS * 86400
    os.utime(copy, (time.time() - week + 3600,) * 2)
    await reopen(path)
    assert copy.exists()  # not a week yet
    os.utime(copy, (time.time() - week - 3600,) * 2)
    await reopen(path)
    assert not copy.exists()


async def reopen(path: Path) -> None:
    db = SqliteDatabase(path)
    await db.open()
    await db.close()


# Rows as schema version 1 wrote them; later versions only added columns with defaults, so
# the same rows fit every version (a fallback for clones without the history above).
V1_ROWS = """
INSERT INTO users(id, username, display_name, password_hash, admin, created_at)
    VALUES (1, 'ada', 'Ada', 'x', 1, 1), (2, 'bo', 'Bo', 'x', 0, 1);
INSERT INTO rooms(id, kind, name, created_by, created_at) VALUES (1, 'private', 'r', 1, 1);
INSERT INTO members(room_id, user_id, role, joined_at)
    VALUES (1, 1, 'owner', 1), (1, 2, 'member', 1);
INSERT INTO messages(id, room_id, author_id, thread_id, body, client_id, created_at)
    VALUES (1, 1, 1, NULL, 'root words', 'c1', 2), (2, 1, 2, 1, 'reply words', 'c2', 3);
INSERT INTO reactions(message_id, user_id, emoji, created_at) VALUES (1, 2, '👍', 4);
INSERT INTO read_markers(room_id, user_id, message_id) VALUES (1, 2, 1);
INSERT INTO events(kind, room_id, user_id, data, created_at)
    VALUES ('message.new', 1, 1, '{"message":{"id":1,"body":"root words"}}', 2);
"""
COUNTS = ("users", "rooms", "members", "messages", "reactions", "read_markers", "events")


@pytest.mark.parametrize("version", range(1, NEWEST))
async def test_a_database_at_any_schema_version_upgrades_without_git(
    version: int, tmp_path: Path
) -> None:
    path = tmp_path / "pychat.db"
    conn = await aiosqlite.connect(path, isolation_level=None)
    try:
        await conn.execute("PRAGMA foreign_keys=ON")
        await migrate(conn, path, target=version)
        await conn.executescript(f"BEGIN;\n{V1_ROWS}\nCOMMIT;")
        before = await counts(conn)
    finally:
        await conn.close()

    await reopen(path)
    assert schema_of(path) == (NEWEST, "ok")
    assert schema_of(tmp_path / f"db-before-v{NEWEST}.sqlite") == (version, "ok")
    conn = await aiosqlite.connect(path)
    try:
        after = await counts(conn)
        assert list(await conn.execute_fetchall("PRAGMA foreign_key_check")) == []
    finally:
        await conn.close()
    assert after == before


async def counts(conn: aiosqlite.Connection) -> dict[str, int]:
    found = {}
    for table in COUNTS:
        rows = list(await conn.execute_fetchall(f"SELECT count(*) FROM {table}"))
        found[table] = int(rows[0][0])
    return found


def test_no_migration_ends_the_transaction_they_share() -> None:
    """Every pending migration runs in one transaction (db_upgrade.py)."""
    # A trigger's BEGIN ... END is fine; a statement that opens or ends a transaction is not.
    ending = re.compile(
        r"^\s*(?:BEGIN(?:\s+(?:DEFERRED|IMMEDIATE|EXCLUSIVE))?(?:\s+TRANSACTION)?\s*;"
        r"|(?:COMMIT|ROLLBACK|VACUUM|END\s+TRANSACTION)\b)",
        re.IGNORECASE | re.MULTILINE,
    )
    assert [v for v, sql in SCRIPTS if ending.search(sql)] == []


async def test_without_room_for_the_copy_the_upgrade_goes_on_and_says_so(
    small_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = small_disk / "pychat.db"
    conn = await aiosqlite.connect(path, isolation_level=None)
    try:
        await migrate(conn, path, target=NEWEST - 1)
    finally:
        await conn.close()
    with caplog.at_level("WARNING", logger="appliance.db_upgrade"):
        await reopen(path)
    assert schema_of(path) == (NEWEST, "ok")
    assert not list(small_disk.glob("db-before-v*"))
    assert "no copy of the database was kept" in caplog.text
