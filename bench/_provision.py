"""Prepared data dirs for the benchmarks, cached under bench/.cache/ (git-ignored).

A prepared dir holds a set-up Pychat data dir (`data/`, users hashed with scrypt N=1024)
and `sessions.json` (one session cookie per user, logged in once). Every run works on a
fresh copy of `data/`, so runs never see each other's messages and the cookies stay valid
(sessions last 30 days). `--fresh` rebuilds the cache.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
from _common import CACHE_DIR, PYCHAT, RELAXED_ENV, ServerProcess, log, save_json

ADMIN, ADMIN_PASSWORD = "benchadmin", "bench-admin-pass-1"
USER_PASSWORD = "bench-user-pass-1"
PROVISION_ENV = {**RELAXED_ENV, "PYCHAT_AUTH_SCRYPT_N": "1024"}
COOKIE = "pychat_session"


def start_real(data: Path, env: dict[str, str] | None = None) -> ServerProcess:
    argv = [PYCHAT, "serve", "--data", str(data), "--listen", "127.0.0.1:0"]
    return ServerProcess(argv, env={**RELAXED_ENV, **(env or {})}, name="pychat").start()


def copy_template(prepared: Path) -> Path:
    """A throw-away copy of a prepared data dir (the caller removes it)."""
    tmp = Path(tempfile.mkdtemp(prefix="pychat-bench-"))
    shutil.copytree(prepared / "data", tmp / "data")
    return tmp / "data"


class Api:
    def __init__(self, http: aiohttp.ClientSession, base: str) -> None:
        self.http = http
        self.base = base

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        cookie: str | None = None,
        expect: tuple[int, ...] = (200, 201, 204),
    ) -> tuple[dict[str, Any], str | None]:
        headers = {"Cookie": f"{COOKIE}={cookie}"} if cookie else {}
        for attempt in range(5):
            async with self.http.request(method, self.base + path, json=body, headers=headers) as r:
                text = await r.text()
                if r.status == 429 and attempt < 4:  # rate limited: back off and retry
                    await asyncio.sleep(0.5 * (attempt + 1))
                    continue
                if r.status not in expect:
                    raise RuntimeError(f"{method} {path} -> {r.status}: {text[:300]}")
                got = r.cookies.get(COOKIE)
                return (json.loads(text) if text else {}), (got.value if got else None)
        raise AssertionError("unreachable")

    async def login(self, username: str, password: str) -> tuple[dict[str, Any], str]:
        data, cookie = await self.call(
            "POST", "/api/auth/login", {"username": username, "password": password}
        )
        if not cookie:
            raise RuntimeError(f"login of {username} set no {COOKIE} cookie")
        return data["user"], cookie


async def gather_limited(n: int, jobs: list[Callable[[], Awaitable[Any]]]) -> list[Any]:
    sem = asyncio.Semaphore(n)

    async def run(job: Callable[[], Awaitable[Any]]) -> Any:
        async with sem:
            return await job()

    return await asyncio.gather(*(run(j) for j in jobs))


async def _users(api: Api, admin_cookie: str, names: list[str]) -> list[dict[str, Any]]:
    """Create the users (admin API, concurrently), then log each in once."""
    t0 = time.monotonic()

    async def create(name: str) -> None:
        body = {"username": name, "password": USER_PASSWORD, "display_name": name.upper()}
        await api.call("POST", "/api/admin/users", body, cookie=admin_cookie)

    await gather_limited(16, [partial(create, n) for n in names])
    log(f"  created {len(names)} users in {time.monotonic() - t0:.1f} s")
    t0 = time.monotonic()

    async def login(name: str) -> dict[str, Any]:
        user, cookie = await api.login(name, USER_PASSWORD)
        return {"id": user["id"], "username": name, "cookie": cookie}

    out = await gather_limited(16, [partial(login, n) for n in names])
    log(f"  logged {len(names)} users in in {time.monotonic() - t0:.1f} s")
    return out


def _init(data: Path) -> None:
    data.mkdir(parents=True)
    r = subprocess.run(
        [
            PYCHAT,
            "init",
            "--data",
            str(data),
            "--org",
            "Bench",
            "--admin",
            ADMIN,
            "--password-stdin",
        ],
        input=ADMIN_PASSWORD + "\n",
        text=True,
        capture_output=True,
        env=_env(),
        timeout=120,
    )
    if r.returncode != 0:
        raise RuntimeError(f"pychat init failed ({r.returncode}): {r.stderr or r.stdout}")


def _env() -> dict[str, str]:
    import os

    return {**os.environ, **PROVISION_ENV}


async def _build(
    prepared: Path, fill: Callable[[Api, str], Awaitable[dict[str, Any]]]
) -> dict[str, Any]:
    if prepared.exists():
        shutil.rmtree(prepared)
    _init(prepared / "data")
    server = ServerProcess(
        [PYCHAT, "serve", "--data", str(prepared / "data"), "--listen", "127.0.0.1:0"],
        env=PROVISION_ENV,
        name="pychat",
    ).start()
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
            api = Api(http, server.base_url)
            _admin, admin_cookie = await api.login(ADMIN, ADMIN_PASSWORD)
            meta = await fill(api, admin_cookie)
    finally:
        rc = server.stop()
        if rc not in (0, -15, None):
            log(
                f"  ! provisioning server exited with {rc}: " + " | ".join(list(server.output)[-5:])
            )
    save_json(prepared / "sessions.json", meta)
    return meta


def prepared_fanout(users: int, room_size: int, fresh: bool = False) -> tuple[Path, dict[str, Any]]:
    """`users` accounts; the first `room_size` are the members of channel `bench`."""
    prepared = CACHE_DIR / f"fanout-u{users}-r{room_size}"
    meta_path = prepared / "sessions.json"
    if meta_path.exists() and not fresh:
        return prepared, json.loads(meta_path.read_text())
    log(f"provisioning {users} users ({room_size} in one channel) into {prepared}")

    async def fill(api: Api, admin_cookie: str) -> dict[str, Any]:
        accounts = await _users(api, admin_cookie, [f"u{i:05d}" for i in range(users)])
        member_ids = [a["id"] for a in accounts[:room_size]]
        data, _ = await api.call(
            "POST", "/api/rooms", {"kind": "channel", "name": "bench"}, cookie=admin_cookie
        )
        room = data["room"]["id"]
        for i in range(0, len(member_ids), 500):
            await api.call(
                "POST",
                f"/api/rooms/{room}/members",
                {"user_ids": member_ids[i : i + 500]},
                cookie=admin_cookie,
            )
        try:  # the admin is never connected: keep it out of the fan-out
            await api.call("POST", f"/api/rooms/{room}/leave", cookie=admin_cookie)
        except RuntimeError as exc:
            log(f"  (admin could not leave the room: {exc})")
        return {"room": room, "users": accounts, "created": time.time()}

    return prepared, asyncio.run(_build(prepared, fill))


def prepared_ingest(senders: int, fresh: bool = False) -> tuple[Path, dict[str, Any]]:
    """`senders` accounts, each alone in a private room of its own (no fan-out cost)."""
    prepared = CACHE_DIR / f"ingest-s{senders}"
    meta_path = prepared / "sessions.json"
    if meta_path.exists() and not fresh:
        return prepared, json.loads(meta_path.read_text())
    log(f"provisioning {senders} senders with private rooms into {prepared}")

    async def fill(api: Api, admin_cookie: str) -> dict[str, Any]:
        accounts = await _users(api, admin_cookie, [f"s{i:05d}" for i in range(senders)])

        async def room(a: dict[str, Any]) -> None:
            data, _ = await api.call(
                "POST",
                "/api/rooms",
                {"kind": "private", "name": f"ingest-{a['username']}"},
                cookie=a["cookie"],
            )
            a["room"] = data["room"]["id"]

        await gather_limited(16, [partial(room, a) for a in accounts])
        return {"users": accounts, "created": time.time()}

    return prepared, asyncio.run(_build(prepared, fill))


def check_sessions(base_url: str, cookies: list[str]) -> str | None:
    """None when every given cookie is still a valid session, else why not."""

    async def run() -> str | None:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
            api = Api(http, base_url)
            for c in cookies:
                try:
                    await api.call("GET", "/api/me", cookie=c)
                except RuntimeError as exc:
                    return str(exc)
        return None

    return asyncio.run(run())
