"""The server never blocks its event loop and leaves no threads or tasks behind.

This runs the real application in-process (aiohttp's TestServer on a loopback port) so
blockbuster can watch every call made from `appliance` code on the loop: a synchronous
sqlite3 call, a file read, a `time.sleep` or password hashing on the loop fails the test.
"""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestServer
from blockbuster import blockbuster_ctx

from appliance.app import build_app
from appliance.chat import setup
from appliance.config import load_settings
from appliance.state.app_keys import SERVICES


async def test_a_chat_session_never_blocks_the_loop_and_cleans_up(tmp_path: Path) -> None:
    threads_before = set(threading.enumerate())
    tasks_before = asyncio.all_tasks()
    settings = load_settings(tmp_path, environ={"PYCHAT_AUTH_SCRYPT_N": "1024"})
    app = build_app(settings)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        with blockbuster_ctx(["appliance"]):
            await setup.initialize(app[SERVICES], "Acme", "admin", "admin-password")
            jar = aiohttp.CookieJar(unsafe=True)
            async with aiohttp.ClientSession(cookie_jar=jar) as http:
                base = str(server.make_url(""))
                headers = {"Content-Type": "application/json"}
                login = {"username": "admin", "password": "admin-password"}
                async with http.post(f"{base}/api/auth/login", json=login) as r:
                    assert r.status == 200
                async with http.get(f"{base}/api/rooms") as r:
                    room = (await r.json())["rooms"][0]["id"]
                async with http.ws_connect(f"{base}/api/ws") as ws:
                    await ws.send_str(json.dumps({"type": "hello", "since": 0, "req": "h"}))
                    await ws.send_str(
                        json.dumps(
                            {
                                "type": "message.send",
                                "room": room,
                                "body": "no blocking @admin",
                                "client_id": "c1",
                                "req": "s",
                            }
                        )
                    )
                    await ws.send_str(json.dumps({"type": "typing", "room": room}))
                    replies = {}
                    while len(replies) < 2:
                        frame = json.loads((await ws.receive(timeout=10)).data)
                        if frame["type"] == "reply":
                            replies[frame["req"]] = frame
                    assert replies["s"]["ok"] and replies["h"]["ok"]
                for path in (
                    f"/api/rooms/{room}/messages",
                    "/api/search?q=blocking",
                    f"/api/rooms/{room}/reads",
                    "/api/users",
                    "/api/sessions",
                ):
                    async with http.get(base + path) as r:
                        assert r.status == 200, path
                async with http.post(f"{base}/api/auth/logout", headers=headers) as r:
                    assert r.status == 204
    finally:
        await server.close()
    leftover_tasks = asyncio.all_tasks() - tasks_before - {asyncio.current_task()}
    assert not leftover_tasks
    # aiosqlite runs a thread per connection: all of them must be closed. A closed
    # connection's thread ends a moment after close() returns: give each a bounded join.
    for thread in set(threading.enumerate()) - threads_before:
        if not thread.name.startswith(("asyncio_", "ThreadPoolExecutor")):
            thread.join(timeout=5)
    leftover_threads = [
        t
        for t in set(threading.enumerate()) - threads_before
        if t.is_alive() and not t.name.startswith(("asyncio_", "ThreadPoolExecutor"))
    ]
    assert not leftover_threads, leftover_threads
