"""Calls' server side never blocks the event loop: TURN credentials, a test call with the
echo bot (aiortc), hanging up, and stopping leave no task behind.

The real application runs in-process (aiohttp's TestServer) with its TURN server on a
loopback port, under blockbuster (tests/integration/conftest.py) watching every call made
from `appliance` code.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from appliance.app import build_app
from appliance.chat import setup
from appliance.config import load_settings
from appliance.state.app_keys import SERVICES
from tests.rtc.ports import free_port

WAIT = 30.0


async def _frame(ws: aiohttp.ClientWebSocketResponse, want: Any) -> dict[str, Any]:
    async def find() -> dict[str, Any]:
        while True:
            frame = json.loads((await ws.receive()).data)
            if want(frame):
                return frame  # type: ignore[no-any-return]

    return await asyncio.wait_for(find(), WAIT)


async def test_a_test_call_never_blocks_the_loop(tmp_path: Path) -> None:
    tasks_before = asyncio.all_tasks()
    environ = {
        "PYCHAT_AUTH_SCRYPT_N": "1024",
        "PYCHAT_TURN_ENABLED": "on",
        "PYCHAT_TURN_LISTEN": f"127.0.0.1:{free_port()}",
        "PYCHAT_TURN_RELAY_PORTS": "25000-25999",
    }
    app = build_app(load_settings(tmp_path, environ=environ), allow_loopback_peers=True)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        await setup.initialize(app[SERVICES], "Acme", "admin", "admin-password")
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as http:
            base = str(server.make_url(""))
            login = {"username": "admin", "password": "admin-password"}
            async with http.post(f"{base}/api/auth/login", json=login) as r:
                assert r.status == 200
            async with http.get(f"{base}/api/turn") as r:
                assert len((await r.json())["urls"]) == 3
            async with http.post(f"{base}/api/test-call", json={}) as r:
                room = (await r.json())["room"]["id"]
            async with http.ws_connect(f"{base}/api/ws") as ws:
                await ws.send_str(json.dumps({"type": "hello", "since": 0, "req": "h"}))
                join = {"type": "rtc.call.join", "room": room, "audio": True, "video": True}
                await ws.send_str(json.dumps({**join, "req": "j"}))
                offer = await _frame(ws, lambda f: f.get("type") == "rtc.signal")
                assert offer["data"]["kind"] == "offer"  # the bot answered the ring
                await ws.send_str(json.dumps({"type": "rtc.call.leave", "room": room}))
                await _frame(ws, lambda f: f.get("type") == "rtc.call" and f.get("call") is None)
    finally:
        await server.close()
    leftover_tasks = asyncio.all_tasks() - tasks_before - {asyncio.current_task()}
    assert not leftover_tasks, leftover_tasks
