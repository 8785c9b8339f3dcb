"""`pychat migrate --to postgresql://...`: an appliance's data, made through the real server,
moves into PostgreSQL whole and verified; a run killed midway resumes; a running server is
refused."""

from __future__ import annotations

import asyncio
import fcntl
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import asyncpg

from appliance.cluster import event_log
from appliance.cluster.migrate import TABLES
from appliance.cluster.postgres import connect_pool
from tests.conftest import TEST_ENV, new_room, people_on
from tests.integration.uploading import upload
from tests.server import Server, child_env, init_data, pychat

DB = "pychat.db"
F_SETPIPE_SZ = 1031  # fcntl: a pipe's capacity (Linux)


def migrate(data: Path, url: str, *extra: str) -> tuple[int, str, str]:
    done = pychat("migrate", "--to", url, *extra, data=data)
    return done.returncode, done.stdout, done.stderr


def sqlite_count(data: Path, table: str) -> int:
    conn = sqlite3.connect(data / DB)
    try:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    finally:
        conn.close()


async def test_an_appliance_moves_to_postgresql_with_everything_it_holds(
    tmp_path: Path, database_url: str
) -> None:
    data = tmp_path / "data"
    init_data(data)
    srv = Server(data, env=TEST_ENV).start()
    people = people_on(srv.url)
    try:
        make = await anext(people)
        alice, bob = await make("alice"), await make("bob")
        room = await new_room(alice, bob, name="kitchen")
        a, b = await alice.connect(), await bob.connect()
        picture = await upload(alice, b"\x89PNG not really", name="menu.txt")
        kept = await a.send_message(
            room["id"], "Crème brûlée on Friday 🍮", attachments=[picture["id"]]
        )
        await b.send_message(room["id"], "yes please", thread=kept["id"])
        await b.ok({"type": "reaction.set", "message": kept["id"], "emoji": "👍", "on": True})
        gone = await a.send_message(room["id"], "the secret is swordfish")
        await a.ok({"type": "message.delete", "message": gone["id"]})
        await a.ok({"type": "message.edit", "message": kept["id"], "body": "Crème brûlée"})
        await a.close()
        await b.close()
    finally:
        await people.aclose()
        srv.stop()

    status, out, err = migrate(data, database_url)
    assert status == 0, err
    assert "every table copied and verified" in out
    for table in TABLES:
        assert f"{table} " in out

    pool = await connect_pool(database_url)
    try:
        for table in ("users", "rooms", "messages", "reactions", "uploads", "events"):
            assert await pool.fetchval(f"SELECT count(*) FROM {table}") == sqlite_count(
                data, table
            ), table
        found = await pool.fetch(
            "SELECT body FROM messages WHERE search @@ to_tsquery('simple', 'creme & brulee')"
        )
        assert [r[0] for r in found] == ["Crème brûlée"]
        assert not await pool.fetch(
            "SELECT 1 FROM messages WHERE body LIKE '%swordfish%'"
            " UNION ALL SELECT 1 FROM events WHERE data::text LIKE '%swordfish%'"
        )
        # Ids and positions go on after SQLite's, never reusing one.
        conn = sqlite3.connect(data / DB)
        used = dict(conn.execute("SELECT name, seq FROM sqlite_sequence").fetchall())
        top_user = conn.execute("SELECT max(id) FROM users").fetchone()[0]
        conn.close()
        assert await event_log.head(pool) == used["events"]
        new_id = await pool.fetchval(
            "INSERT INTO users(username, display_name, password_hash, created_at)"
            " VALUES ('newcomer', 'N', 'x', 0) RETURNING id"
        )
        assert new_id > top_user
        await pool.execute("DELETE FROM users WHERE id = $1", new_id)
    finally:
        await pool.close()

    # Again: nothing is copied twice.
    status, out, err = migrate(data, database_url)
    assert status == 0, err
    summary = [line for line in out.splitlines() if "(copied now" in line]
    assert len(summary) == len(TABLES)
    assert all("(copied now          0)  verified" in line for line in summary), out


def history(data: Path, messages: int) -> None:
    """A data folder's database with `messages` more in one channel, and two people whose
    names differ only by an accent's case (SQLite's NOCASE holds them apart)."""
    init_data(data)
    conn = sqlite3.connect(data / DB)
    with conn:
        admin = conn.execute("SELECT id FROM users WHERE username = 'admin'").fetchone()[0]
        conn.execute("INSERT INTO rooms(kind, name, created_at) VALUES ('channel', 'history', 0)")
        room = conn.execute("SELECT id FROM rooms WHERE name = 'history'").fetchone()[0]
        conn.execute(
            "INSERT INTO members(room_id, user_id, joined_at) VALUES (?, ?, 0)", (room, admin)
        )
        conn.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)"
            " INSERT INTO messages(room_id, author_id, body, created_at)"
            " SELECT ?, ?, 'message number ' || i, i FROM n",
            (messages, room, admin),
        )
        for name in ("Émile", "émile"):
            conn.execute(
                "INSERT INTO users(username, display_name, password_hash, created_at)"
                " VALUES (?, ?, 'x', 0)",
                (name, name),
            )
    conn.close()


async def test_a_migration_killed_midway_resumes_where_it_stopped(
    tmp_path: Path, database_url: str
) -> None:
    data = tmp_path / "data"
    history(data, 40_000)
    total = sqlite_count(data, "messages")

    # Its progress goes into a pipe of one page that the test reads slowly: the copy can
    # never be more than a page of lines (~90 chunks of 100) ahead of what the test has
    # read, so the kill always lands midway, however the two are scheduled.
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, F_SETPIPE_SZ, 4096)
    process = subprocess.Popen(
        [sys.executable, "-m", "appliance", "migrate", "--data", str(data), "--to",
         database_url, "--chunk", "100"],
        stdout=write_end, stderr=subprocess.DEVNULL, env=child_env(),
    )  # fmt: skip
    os.close(write_end)
    with open(read_end, "rb") as progress:

        def until_a_thousand() -> None:
            for line in progress:
                if line.startswith(b"messages: copied 1000 "):
                    return
            raise AssertionError("the copy ended before 1,000 messages")

        await asyncio.wait_for(asyncio.to_thread(until_a_thousand), 60)
        process.send_signal(signal.SIGKILL)
        assert await asyncio.to_thread(process.wait, 60) == -signal.SIGKILL
    conn_pg = await asyncpg.connect(database_url)
    try:
        partial = await conn_pg.fetchval("SELECT count(*) FROM messages")
    finally:
        await conn_pg.close()
    assert 1000 <= partial < total and partial % 100 == 0  # a prefix, in whole chunks

    status, out, err = migrate(data, database_url, "--chunk", "100")
    assert status == 0, err
    line = next(line for line in out.splitlines() if line.startswith("messages "))
    assert f"{total}" in line and f"copied now {total - partial:>10}" in line
    assert "verified" in line


async def test_a_row_changed_in_postgresql_fails_the_verification(
    tmp_path: Path, database_url: str
) -> None:
    data = tmp_path / "data"
    history(data, 500)
    status, _, err = migrate(data, database_url)
    assert status == 0, err
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM users WHERE lower(username) = 'émile'")
        await conn.execute(
            "UPDATE messages SET body = 'changed' WHERE id = (SELECT max(id) FROM messages)"
        )
    finally:
        await conn.close()
    status, out, err = migrate(data, database_url)
    assert status == 1
    assert "some tables differ" in err
    line = next(line for line in out.splitlines() if line.startswith("messages "))
    assert line.endswith("DIFFERENT")


async def test_migrate_refuses_a_database_holding_rows_it_did_not_copy(
    tmp_path: Path, database_url: str
) -> None:
    data = tmp_path / "data"
    history(data, 10)
    pool = await connect_pool(database_url)
    try:
        await pool.execute("INSERT INTO settings VALUES ('org', 'Another office')")
    finally:
        await pool.close()
    status, _, err = migrate(data, database_url)
    assert status == 1
    assert "did not copy" in err


async def test_migrate_refuses_while_a_server_has_the_database_open(
    tmp_path: Path, database_url: str
) -> None:
    data = tmp_path / "data"
    init_data(data)
    srv = Server(data, env=TEST_ENV).start()
    try:
        status, _, err = migrate(data, database_url)
    finally:
        srv.stop()
    assert status == 1
    assert "stop it first" in err
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT to_regclass('public.messages')") is None
    finally:
        await conn.close()


async def test_migrate_says_what_is_wrong_with_its_arguments(tmp_path: Path) -> None:
    data = tmp_path / "data"
    init_data(data)
    status, _, err = migrate(data, "mysql://somewhere/db")
    assert status == 2 and "postgresql://" in err
    status, _, err = migrate(data, "postgresql://pychat@127.0.0.1:1/none")
    assert status == 1 and "cannot reach 127.0.0.1:1/none" in err
