"""The `pychat` command line: accounts, online backup, and refusing bad configuration."""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.client import Client
from tests.conftest import TEST_ENV, USER_PASSWORD, new_room
from tests.senders import Sender
from tests.server import ADMIN_PASSWORD, Server

NEW_PASSWORD = "a-password-from-the-console"
# Cheap password hashing for commands that hash (the hash records its own cost).
FAST = {"PYCHAT_AUTH_SCRYPT_N": TEST_ENV["PYCHAT_AUTH_SCRYPT_N"]}


def run(
    *args: str,
    data: Path,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 20,
) -> subprocess.CompletedProcess[str]:
    """`pychat ARGS --data DATA` (environment: ours plus `env`, by default FAST), which must
    exit by itself within `timeout` seconds."""
    try:
        return subprocess.run(
            [sys.executable, "-m", "appliance", *args, "--data", str(data)],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **(FAST if env is None else env)},
            check=False,
        )
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"`pychat {' '.join(args)}` did not exit within {timeout} s: {e.stderr!r}")


async def arun(*args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(run, *args, **kw)


def assert_clean_failure(done: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout
    for word in words:
        assert word.lower() in done.stderr.lower(), done.stderr


async def login_status(srv: Server, username: str, password: str) -> int:
    client = Client(srv.url)
    try:
        status, _ = await client.call(
            "POST", "/api/auth/login", {"username": username, "password": password}
        )
        return status
    finally:
        await client.close()


# -- accounts ------------------------------------------------------------------------------


async def test_user_add_and_list(make_server: Callable[..., Server]) -> None:
    srv = make_server()
    added = await arun(
        "user", "add", "bob", "--display-name", "Bob Builder", "--password-stdin",
        data=srv.data, stdin=USER_PASSWORD + "\n",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    boss = await arun(
        "user", "add", "Carol", "--admin", "--password-stdin",
        data=srv.data, stdin=USER_PASSWORD + "\n",
    )  # fmt: skip
    assert boss.returncode == 0, boss.stderr

    # The running server takes the new accounts at once.
    bob = Client(srv.url)
    carol = Client(srv.url)
    try:
        await bob.login("bob", USER_PASSWORD)
        assert bob.user["display_name"] == "Bob Builder" and bob.user["admin"] is False
        await carol.login("carol", USER_PASSWORD)
        assert carol.user["username"] == "carol" and carol.user["admin"] is True
        # Carol's admin rights are real: she may create accounts.
        await carol.post(
            "/api/admin/users", {"username": "dan", "password": USER_PASSWORD}, expect=201
        )
        # Bob tries a test call: Echo, the system account behind it, now exists.
        await bob.post("/api/test-call")
    finally:
        await bob.close()
        await carol.close()

    # People only: Echo is no account an admin manages (issue 15).
    listing = await arun("user", "list", data=srv.data)
    assert listing.returncode == 0, listing.stderr
    rows = {line.split()[1]: line for line in listing.stdout.splitlines() if line.strip()}
    assert set(rows) == {"admin", "bob", "carol", "dan"}
    assert "Bob Builder" in rows["bob"]
    assert "admin" in rows["carol"].split()[2:]
    assert "admin" not in rows["bob"].split()[2:]


async def test_user_add_refuses_bad_accounts(make_server: Callable[..., Server]) -> None:
    srv = make_server()
    first = await arun(
        "user", "add", "erin", "--password-stdin", data=srv.data, stdin=USER_PASSWORD
    )
    assert first.returncode == 0, first.stderr

    taken = await arun(
        "user", "add", "ERIN", "--password-stdin", data=srv.data, stdin=USER_PASSWORD
    )
    assert_clean_failure(taken, 1, "taken")
    bad = await arun(
        "user", "add", "bad name!", "--password-stdin", data=srv.data, stdin=USER_PASSWORD
    )
    assert_clean_failure(bad, 1, "username")
    short = await arun("user", "add", "frank", "--password-stdin", data=srv.data, stdin="short")
    assert_clean_failure(short, 1, "password")
    assert await login_status(srv, "frank", "short") == 401


async def test_passwd_sets_the_password_and_ends_sessions(
    make_server: Callable[..., Server],
) -> None:
    srv = make_server()
    admin = Client(srv.url)
    dave = Client(srv.url)
    try:
        await admin.login("admin", ADMIN_PASSWORD)
        await admin.post(
            "/api/admin/users", {"username": "dave", "password": USER_PASSWORD}, expect=201
        )
        await dave.login("dave", USER_PASSWORD)
        assert (await dave.get("/api/me"))["user"]["username"] == "dave"

        done = await arun(
            "user", "passwd", "dave", "--password-stdin", data=srv.data, stdin=NEW_PASSWORD + "\n"
        )
        assert done.returncode == 0, done.stderr

        status, payload = await dave.call("GET", "/api/me")
        assert status == 401 and payload["error"]["code"] == "unauthorized", payload
        assert await login_status(srv, "dave", USER_PASSWORD) == 401
        assert await login_status(srv, "dave", NEW_PASSWORD) == 200
        # Other people's sessions are untouched.
        assert (await admin.get("/api/me"))["user"]["username"] == "admin"
    finally:
        await admin.close()
        await dave.close()

    unknown = await arun(
        "user", "passwd", "nobody", "--password-stdin", data=srv.data, stdin=NEW_PASSWORD
    )
    assert_clean_failure(unknown, 1, "no such user")


# -- backup --------------------------------------------------------------------------------


def read_backup(path: Path, message_ids: list[int]) -> tuple[str, int, dict[int, str]]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        check = db.execute("PRAGMA integrity_check").fetchone()[0]
        version = db.execute("PRAGMA user_version").fetchone()[0]
        found: dict[int, str] = {}
        for start in range(0, len(message_ids), 500):
            chunk = message_ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            found.update(db.execute(f"SELECT id, body FROM messages WHERE id IN ({marks})", chunk))
        return check, version, found
    finally:
        db.close()


async def room_history(client: Client, room: int) -> list[tuple[int, str]]:
    history: list[tuple[int, str]] = []
    path = f"/api/rooms/{room}/messages?limit=200"
    while True:
        page = await client.get(path)
        history[:0] = [(m["id"], m["body"]) for m in page["messages"]]
        if not page["has_more"]:
            return history
        path = f"/api/rooms/{room}/messages?limit=200&before={page['messages'][0]['id']}"


async def test_backup_while_serving_holds_every_acknowledged_message(
    make_server: Callable[..., Server], tmp_path: Path
) -> None:
    srv = make_server()
    admin = Client(srv.url)
    people: list[Client] = []
    senders: list[Sender] = []
    tasks: list[asyncio.Task[None]] = []
    out = tmp_path / "backups" / "pychat-backup.db"
    out.parent.mkdir()
    try:
        await admin.login("admin", ADMIN_PASSWORD)
        for name in ("writer1", "writer2"):
            await admin.post(
                "/api/admin/users", {"username": name, "password": USER_PASSWORD}, expect=201
            )
            person = await Client(srv.url).login(name, USER_PASSWORD)
            people.append(person)
            senders.append(Sender(person, (await new_room(person))["id"]))
        tasks = [asyncio.create_task(s.run()) for s in senders]
        await asyncio.wait_for(asyncio.gather(*(s.reached.wait() for s in senders)), 20)

        before = [list(s.acked) for s in senders]
        done = await arun("backup", "--out", str(out), data=srv.data, timeout=60)
        # More messages after the backup, so the check below also sees what it must not hold.
        await asyncio.wait_for(asyncio.gather(*(s.keep_going(10) for s in senders)), 20)
        for s in senders:
            s.stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 20)
        assert done.returncode == 0, done.stderr

        for s, acked_before in zip(senders, before, strict=True):
            ids = [i for i, _ in s.acked]
            check, version, found = await asyncio.to_thread(read_backup, out, ids)
            assert check == "ok"
            assert version >= 1
            for message_id, body in acked_before:
                assert found.get(message_id) == body, f"acknowledged message {message_id} lost"
            # One consistent moment: of one sender's sequential messages, a prefix.
            assert [(i, found[i]) for i in ids if i in found] == s.acked[: len(found)]
        assert not out.with_name(out.name + "-wal").exists()
        assert not out.with_name(out.name + ".partial").exists()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for client in (admin, *people):
            await client.close()

    # A server started on a copy of the backup serves those messages.
    restored_data = tmp_path / "restored"
    restored_data.mkdir()
    shutil.copyfile(out, restored_data / "pychat.db")
    restored = Server(restored_data, env=TEST_ENV).start()
    try:
        for person, s, acked_before in zip(people, senders, before, strict=True):
            client = Client(restored.url)
            try:
                await client.login(person.user["username"], USER_PASSWORD)
                history = await room_history(client, s.room)
            finally:
                await client.close()
            assert history[: len(acked_before)] == acked_before
            assert history == s.acked[: len(history)]
    finally:
        restored.stop()


async def test_backup_without_a_database_fails_clearly(tmp_path: Path) -> None:
    done = await arun("backup", "--out", str(tmp_path / "b.db"), data=tmp_path / "empty")
    assert_clean_failure(done, 1, "no database")
    assert not (tmp_path / "b.db").exists()


# -- refusing to start ---------------------------------------------------------------------

BAD_CONFIG = [
    ({"PYCHAT_LIMITS_SEND_BURST": "abc"}, None, "limits.send_burst"),
    ({"PYCHAT_LIMITS_SEND_BURST": "0"}, None, "limits.send_burst"),
    ({"PYCHAT_DB_SYNCHRONOUS": "sometimes"}, None, "db.synchronous"),
    ({}, '[limits]\nsend_burst = "abc"\n', "limits.send_burst"),
    ({}, "[limits]\nsend_brust = 5\n", "limits.send_brust"),
    ({}, "[auth]\nscrypt_n = true\n", "auth.scrypt_n"),
    ({}, "[limits]\nsend_burst = 2.5\n", "limits.send_burst"),
]


@pytest.mark.parametrize(("env", "toml", "key"), BAD_CONFIG)
@pytest.mark.parametrize("command", [["serve", "--listen", "127.0.0.1:0"], ["user", "list"]])
async def test_bad_configuration_exits_2_naming_the_key(
    tmp_path: Path, command: list[str], env: dict[str, str], toml: str | None, key: str
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    if toml is not None:
        (data / "pychat.toml").write_text(toml)
    done = await arun(*command, data=data, env=env)
    assert_clean_failure(done, 2, key)
    assert "listening" not in done.stdout


@pytest.mark.parametrize("command", [["serve", "--listen", "127.0.0.1:0"], ["user", "list"]])
async def test_a_database_newer_than_pychat_is_refused(tmp_path: Path, command: list[str]) -> None:
    data = tmp_path / "data"
    data.mkdir()
    db = sqlite3.connect(data / "pychat.db")
    db.execute("PRAGMA user_version = 9999")
    db.close()
    done = await arun(*command, data=data, timeout=10)
    assert_clean_failure(done, 1, "newer")
    assert "listening" not in done.stdout
    db = sqlite3.connect(data / "pychat.db")
    try:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 9999
    finally:
        db.close()
