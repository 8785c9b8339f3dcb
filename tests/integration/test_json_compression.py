"""Large JSON replies travel gzip-compressed to a client that accepts it (issue 15: a phone on
a Pi's Wi-Fi); small ones, and clients that refuse gzip, get the plain body."""

from __future__ import annotations

import gzip
import json

from appliance.web.compression import accepts_gzip
from tests.client import Client
from tests.conftest import new_room


async def fetch(client: Client, path: str, accept: str) -> tuple[int, dict[str, str], bytes]:
    async with client.http.get(
        client.base_url + path, headers={"Accept-Encoding": accept}, auto_decompress=False
    ) as resp:
        return resp.status, dict(resp.headers), await resp.read()


async def test_a_page_of_history_comes_gzipped_and_decodes_to_the_same_json(
    admin: Client,
) -> None:
    room = await new_room(admin, kind="channel")
    sock = await admin.connect()
    for i in range(40):
        await sock.send_message(room["id"], f"Message {i}: **the quarterly plan**, see `plan.md`")
    path = f"/api/rooms/{room['id']}/messages?limit=50"

    status, plain_headers, plain = await fetch(admin, path, "identity")
    assert status == 200 and "Content-Encoding" not in plain_headers
    assert len(plain) > 4096, "a page this size is worth compressing"

    status, headers, body = await fetch(admin, path, "gzip, deflate, br, zstd")
    assert status == 200
    assert headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in headers["Vary"]
    assert int(headers["Content-Length"]) == len(body) < len(plain) / 3
    assert json.loads(gzip.decompress(body)) == json.loads(plain)
    assert len(json.loads(plain)["messages"]) == 40

    status, refused_headers, refused = await fetch(admin, path, "gzip;q=0, identity")
    assert "Content-Encoding" not in refused_headers and refused == plain


async def test_a_small_reply_is_sent_as_it_is(admin: Client) -> None:
    status, headers, body = await fetch(admin, "/api/health", "gzip, deflate, br")
    assert status == 200
    assert "Content-Encoding" not in headers
    assert "Accept-Encoding" in headers["Vary"]
    assert json.loads(body)["status"] == "ok"
    # An error envelope is small too.
    status, headers, body = await fetch(admin, "/api/rooms/999999", "gzip")
    assert status == 404 and "Content-Encoding" not in headers
    assert json.loads(body)["error"]["code"] == "not_found"


def test_accept_encoding_is_read_with_its_weights() -> None:
    assert accepts_gzip("gzip, deflate, br")
    assert accepts_gzip("br;q=1.0, GZIP;q=0.5")
    assert accepts_gzip("*")
    assert not accepts_gzip("")
    assert not accepts_gzip("identity")
    assert not accepts_gzip("gzip;q=0")
    assert not accepts_gzip("gzip;q=nonsense")
    assert not accepts_gzip("br, x-gzipped")
