"""Uploads never block the event loop: hashing, writing, Pillow and deletes run in threads.

The real application runs in-process (aiohttp's TestServer on loopback) so blockbuster
(tests/integration/conftest.py) sees every call `appliance` code makes on the loop while a
photo with EXIF is uploaded, sent, fetched (whole, by range, its thumbnail), made into a
profile picture, and its message deleted.
"""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestServer
from PIL import Image

from appliance.app import build_app
from appliance.chat import setup
from appliance.config import load_settings
from appliance.state.app_keys import SERVICES


def photo() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 3  # upside down
    exif[0x010F] = "PhoneCo"
    buf = io.BytesIO()
    Image.new("RGB", (1600, 1200), "green").save(buf, "JPEG", exif=exif)
    return buf.getvalue()


async def test_uploading_and_serving_never_block_the_loop(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, environ={"PYCHAT_AUTH_SCRYPT_N": "1024"})
    app = build_app(settings)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    data = photo()
    try:
        await setup.initialize(app[SERVICES], "Acme", "admin", "admin-password")
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as http:
            base = str(server.make_url(""))
            login = {"username": "admin", "password": "admin-password"}
            async with http.post(f"{base}/api/auth/login", json=login) as r:
                assert r.status == 200
            async with http.get(f"{base}/api/rooms") as r:
                room = (await r.json())["rooms"][0]["id"]
            form = aiohttp.FormData(quote_fields=False)
            form.add_field("file", data, filename="p.jpg", content_type="image/jpeg")
            async with http.post(f"{base}/api/uploads", data=form) as r:
                assert r.status == 201, await r.text()
                sent = (await r.json())["upload"]
            assert (sent["width"], sent["height"]) == (1600, 1200)
            async with http.ws_connect(f"{base}/api/ws") as ws:
                frames = [
                    {"type": "hello", "since": None, "req": "h"},
                    {"type": "message.send", "room": room, "body": "", "client_id": "c",
                     "attachments": [sent["id"]], "req": "s"},
                ]  # fmt: skip
                replies: dict[str, dict] = {}
                for frame in frames:
                    await ws.send_str(json.dumps(frame))
                    while frame["req"] not in replies:
                        got = json.loads((await ws.receive(timeout=10)).data)
                        if got["type"] == "reply":
                            replies[got["req"]] = got
                message = replies["s"]["data"]["message"]
                for url, headers in (
                    (sent["url"], {}),
                    (sent["url"], {"Range": "bytes=10-99"}),
                    (sent["thumb_url"], {}),
                ):
                    async with http.get(base + url, headers=headers) as r:
                        assert r.status in (200, 206)
                        await r.read()
                form = aiohttp.FormData()
                form.add_field("file", data, filename="me.jpg", content_type="image/jpeg")
                async with http.put(f"{base}/api/me/avatar", data=form) as r:
                    assert r.status == 200
                await ws.send_str(
                    json.dumps({"type": "message.delete", "message": message["id"], "req": "d"})
                )
                while True:
                    got = json.loads((await ws.receive(timeout=10)).data)
                    if got.get("req") == "d":
                        assert got["ok"]
                        break
            async with http.get(base + sent["url"]) as r:
                assert r.status == 404
    finally:
        await server.close()
    assert not await asyncio.to_thread(lambda: list((tmp_path / "files" / "tmp").iterdir()))
