"""Web Push end to end (issue 16): the real server posts to a push endpoint this test runs
on loopback, which checks the VAPID token (ES256, with the key from GET /api/push/key) and
decrypts the payload (RFC 8291) with the subscription's own private key, as a browser's
push service and the browser would. Nothing is mocked on the server's side.

The server waits `push.delay_s` before deciding a message was missed; its checks run in the
order the messages came, so the first push to arrive after a message that must not notify
proves that one was checked and sent nothing (no sleeping to show an absence).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import struct
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp import web
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tests.client import Client
from tests.conftest import TEST_ENV, new_room, people_on
from tests.server import ADMIN_PASSWORD, Server, init_data
from tests.waiting import wait_until

DELAY_S = "2"  # long enough to read a message first over a loaded machine's loopback
PUSH_ENV = {"PYCHAT_PUSH_DELAY_S": DELAY_S, "PYCHAT_PUSH_TEST_ENDPOINTS": "on"}
WAIT_PUSH = 30.0


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _hmac(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


@dataclass
class Device:
    """A browser's side of one subscription: its P-256 key pair and auth secret."""

    endpoint: str
    private: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    @property
    def public(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )

    def subscription(self) -> dict[str, Any]:
        keys = {"p256dh": b64(self.public), "auth": b64(self.auth)}
        return {"endpoint": self.endpoint, "expirationTime": None, "keys": keys}

    def decrypt(self, body: bytes) -> dict[str, Any]:
        """RFC 8291 from the user agent's side (aes128gcm, one record)."""
        salt, rs, idlen = body[:16], *struct.unpack("!IB", body[16:21])
        as_public, record = body[21 : 21 + idlen], body[21 + idlen :]
        assert rs >= len(record) and idlen == 65
        peer = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), as_public)
        secret = self.private.exchange(ec.ECDH(), peer)
        prk_key = _hmac(self.auth, secret)
        ikm = _hmac(prk_key, b"WebPush: info\x00" + self.public + as_public + b"\x01")
        prk = _hmac(salt, ikm)
        cek = _hmac(prk, b"Content-Encoding: aes128gcm\x00\x01")[:16]
        nonce = _hmac(prk, b"Content-Encoding: nonce\x00\x01")[:12]
        plain = AESGCM(cek).decrypt(nonce, record, None).rstrip(b"\x00")
        assert plain.endswith(b"\x02"), "the last record ends with its delimiter"
        data = plain[:-1]
        assert len(data) <= 3000
        return json.loads(data)  # type: ignore[no-any-return]


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class PushService:
    """A push service on loopback: records each request; answers 201, or what `answers`
    says for a path (410 for a subscription it has forgotten)."""

    def __init__(self) -> None:
        self.url = ""
        self.received: dict[str, asyncio.Queue[Received]] = {}
        self.answers: dict[str, int] = {}
        self.count = 0

    def queue(self, path: str) -> asyncio.Queue[Received]:
        return self.received.setdefault(path, asyncio.Queue())

    async def handle(self, request: web.Request) -> web.Response:
        self.count += 1
        body = await request.read()
        self.queue(request.path).put_nowait(Received(request.path, dict(request.headers), body))
        return web.Response(status=self.answers.get(request.path, 201))

    async def next(self, path: str) -> Received:
        return await asyncio.wait_for(self.queue(path).get(), WAIT_PUSH)

    def device(self, name: str) -> Device:
        return Device(f"{self.url}/{name}")


@pytest.fixture
async def push_service() -> AsyncIterator[PushService]:
    service = PushService()
    app = web.Application()
    app.router.add_post("/{name}", service.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    service.url = f"http://127.0.0.1:{port}"
    yield service
    await runner.cleanup()


@pytest.fixture(scope="module")
def push_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the module (each test has its own people and devices)."""
    data = tmp_path_factory.mktemp("push-data")
    init_data(data)
    srv = Server(data, env={**TEST_ENV, **PUSH_ENV}).start()
    yield srv
    srv.stop()


def verify_vapid(got: Received, key: str, endpoint: str) -> dict[str, Any]:
    """RFC 8292: `vapid t=<ES256 JWT>, k=<the server's public key>`; returns the claims."""
    scheme, _, params = got.headers["Authorization"].partition(" ")
    assert scheme == "vapid"
    fields = dict(part.strip().split("=", 1) for part in params.split(","))
    assert fields["k"] == key
    header, claims, signature = fields["t"].split(".")
    assert json.loads(unb64(header)) == {"typ": "JWT", "alg": "ES256"}
    raw = unb64(signature)
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64(key))
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    public.verify(der, f"{header}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))  # raises
    body = json.loads(unb64(claims))
    parts = urlsplit(endpoint)
    assert body["aud"] == f"{parts.scheme}://{parts.netloc}"
    assert time.time() < body["exp"] <= time.time() + 24 * 3600
    assert body["sub"].startswith("mailto:")
    assert got.headers["Content-Encoding"] == "aes128gcm"
    assert int(got.headers["TTL"]) > 0
    return body


async def switch(admin: Client, on: bool) -> dict[str, Any]:
    status, body = await admin.call("PATCH", "/api/admin/push", {"enabled": on})
    assert status == 200, body
    assert body["enabled"] is on
    return body


async def test_a_missed_message_reaches_the_device_encrypted_and_a_read_closes_it(
    push_server: Server, push_service: PushService
) -> None:
    async for person in people_on(push_server.url):
        admin = await Client(push_server.url).login("admin", ADMIN_PASSWORD)
        try:
            alice, bob = await person("alice"), await person("bob")
            # Off (as by default, which tests/e2e/test_admin_push.py shows on a new device):
            # no key, and no subscription accepted.
            await switch(admin, False)
            assert await bob.get("/api/push/key") == {"enabled": False, "key": None}
            phone = push_service.device("bob-phone")
            status, body = await bob.call("POST", "/api/push/subscriptions", phone.subscription())
            assert (status, body["error"]["code"]) == (409, "push_disabled")
            assert (await admin.get("/api/admin/push"))["enabled"] is False

            await switch(admin, True)
            key = (await bob.get("/api/push/key"))["key"]
            assert len(unb64(key)) == 65
            await bob.post("/api/push/subscriptions", phone.subscription(), expect=201)
            bad = {**phone.subscription(), "keys": {"p256dh": "AAAA", "auth": b64(b"x" * 16)}}
            status, body = await bob.call("POST", "/api/push/subscriptions", bad)
            assert (status, body["error"]["code"]) == (400, "bad_request")

            dm = await new_room(alice, bob, kind="direct")
            sock = await alice.connect()
            sent = await sock.send_message(dm["id"], "Lunch at noon?")
            got = await push_service.next("/bob-phone")
            verify_vapid(got, key, phone.endpoint)
            assert got.headers["Urgency"] == "high"
            assert phone.decrypt(got.body) == {
                "v": 1,
                "kind": "message",
                "room": dm["id"],
                "thread": None,
                "message": sent["id"],
                "title": alice.user["display_name"],
                "body": "Lunch at noon?",
                "tag": f"room-{dm['id']}",
                "url": f"/rooms/{dm['id']}?message={sent['id']}",
                "unread": 1,
            }

            # Read on another device: the phone's notification closes.
            bob_sock = await bob.connect()
            await bob_sock.ok({"type": "read.mark", "room": dm["id"], "message": sent["id"]})
            closed = await push_service.next("/bob-phone")
            verify_vapid(closed, key, phone.endpoint)
            assert phone.decrypt(closed.body) == {
                "v": 1,
                "kind": "read",
                "room": dm["id"],
                "tag": f"room-{dm['id']}",
                "unread": 0,
            }

            # A thread reply in a channel that mentions him: the link opens the thread.
            channel = await new_room(alice, bob, kind="channel")
            root = await sock.send_message(channel["id"], "Release plan")
            reply = await sock.send_message(
                channel["id"], f"@{bob.user['username']} can you check?", thread=root["id"]
            )
            payload = phone.decrypt((await push_service.next("/bob-phone")).body)
            assert payload["message"] == reply["id"], "the root mentions nobody: not pushed"
            assert payload["title"] == f"{alice.user['display_name']} in #{channel['name']}"
            assert payload["thread"] == root["id"]
            assert payload["url"] == (
                f"/rooms/{channel['id']}?message={reply['id']}&thread={root['id']}"
            )
            await bob_sock.ok({"type": "thread.read", "message": reply["id"]})
            closed_payload = phone.decrypt((await push_service.next("/bob-phone")).body)
            assert closed_payload["kind"] == "read" and closed_payload["room"] == channel["id"]
        finally:
            await admin.close()


async def test_only_what_stays_unread_and_her_settings_allow_is_pushed(
    push_server: Server, push_service: PushService
) -> None:
    async for person in people_on(push_server.url):
        admin = await Client(push_server.url).login("admin", ADMIN_PASSWORD)
        try:
            await switch(admin, True)
            alice, bob = await person("alice"), await person("bob")
            phone = push_service.device("bob-phone2")
            await bob.post("/api/push/subscriptions", phone.subscription(), expect=201)
            dm = await new_room(alice, bob, kind="direct")
            sock, bob_sock = await alice.connect(), await bob.connect()

            async def next_message(device: Device = phone) -> dict[str, Any]:
                path = urlsplit(device.endpoint).path
                return device.decrypt((await push_service.next(path)).body)

            # Read within the delay: nothing. The next push is the one after it.
            seen = await sock.send_message(dm["id"], "seen at once")
            await bob_sock.ok({"type": "read.mark", "room": dm["id"], "message": seen["id"]})
            unseen = await sock.send_message(dm["id"], "not seen")
            assert (await next_message())["message"] == unseen["id"]
            await bob_sock.ok({"type": "read.mark", "room": dm["id"], "message": unseen["id"]})
            assert (await next_message())["kind"] == "read"

            # A channel notifies him for mentions only (the default): a plain line is not
            # pushed, a keyword is.
            channel = await new_room(alice, bob, kind="channel")
            status, _ = await bob.call("PUT", "/api/me/notifications", {"keywords": ["deploy"]})
            assert status == 200
            await sock.send_message(channel["id"], "good morning all")
            keyword = await sock.send_message(channel["id"], "Deploy is done")
            assert (await next_message())["message"] == keyword["id"]

            # His level for direct messages is "nothing": not pushed; hiding the text keeps
            # who and where but not what.
            body = {"direct_level": "nothing", "hide_text": True}
            status, _ = await bob.call("PUT", "/api/me/notifications", body)
            assert status == 200
            await sock.send_message(dm["id"], "quiet please")
            mention = await sock.send_message(channel["id"], f"@{bob.user['username']} hi")
            hidden = await next_message()
            assert (hidden["message"], hidden["body"]) == (mention["id"], "")

            # Do not disturb from an hour ago to an hour from now (UTC: he set no zone).
            now = datetime.now(UTC)
            quiet = {
                "direct_level": "all",
                "dnd_start": (now - timedelta(hours=1)).strftime("%H:%M"),
                "dnd_end": (now + timedelta(hours=1)).strftime("%H:%M"),
            }
            status, _ = await bob.call("PUT", "/api/me/notifications", quiet)
            assert status == 200
            await sock.send_message(dm["id"], "during his quiet hours")
            # Checks run in order: once Carol has the next message, his was decided.
            carol = await person("carol")
            carols = push_service.device("carol-phone")
            await carol.post("/api/push/subscriptions", carols.subscription(), expect=201)
            group = await new_room(alice, bob, carol, kind="private")
            for_carol = await sock.send_message(group["id"], f"@{carol.user['username']} hi")
            assert (await next_message(carols))["message"] == for_carol["id"]
            status, _ = await bob.call(
                "PUT", "/api/me/notifications", {"dnd_start": None, "dnd_end": None}
            )
            assert status == 200
            after = await sock.send_message(dm["id"], "after his quiet hours")
            assert (await next_message())["message"] == after["id"]
        finally:
            await admin.close()


async def test_gone_subscriptions_are_dropped_and_push_off_sends_nothing(
    push_server: Server, push_service: PushService
) -> None:
    async for person in people_on(push_server.url):
        admin = await Client(push_server.url).login("admin", ADMIN_PASSWORD)
        try:
            await switch(admin, True)

            # The count is everyone's: other tests' people are on this server too.
            others = await subscription_count(admin)

            async def subscriptions(admin: Client = admin, others: int = others) -> int:
                return await subscription_count(admin) - others

            alice, bob = await person("alice"), await person("bob")
            old, new = push_service.device("old-laptop"), push_service.device("new-phone")
            push_service.answers["/old-laptop"] = 410  # the browser unsubscribed meanwhile
            await bob.post("/api/push/subscriptions", old.subscription(), expect=201)
            await bob.post("/api/push/subscriptions", new.subscription(), expect=201)
            assert await subscriptions() == 2
            dm = await new_room(alice, bob, kind="direct")
            sock = await alice.connect()
            await sock.send_message(dm["id"], "one")
            await push_service.next("/old-laptop")
            await push_service.next("/new-phone")
            await wait_until(lambda: _equals(subscriptions(), 1), what="the 410 one dropped")

            # Off: nothing is sent, nothing is accepted, the subscriptions are kept.
            await switch(admin, False)
            await sock.send_message(dm["id"], "while off")
            status, body = await bob.call("POST", "/api/push/subscriptions", old.subscription())
            assert (status, body["error"]["code"]) == (409, "push_disabled")
            await switch(admin, True)
            back = await sock.send_message(dm["id"], "back on")
            got = new.decrypt((await push_service.next("/new-phone")).body)
            assert got["message"] == back["id"], "nothing was pushed while off"
            assert push_service.queue("/old-laptop").empty()

            # At most 10 devices a person: the oldest go first. Signing out drops the ones
            # that session made; DELETE drops one.
            for i in range(11):
                device = push_service.device(f"many-{i}")
                await bob.post("/api/push/subscriptions", device.subscription(), expect=201)
            assert await subscriptions() == 10
            status, _ = await bob.call(
                "DELETE", "/api/push/subscriptions", {"endpoint": f"{push_service.url}/many-10"}
            )
            assert status == 204
            assert await subscriptions() == 9
            await bob.post("/api/auth/logout", expect=204)
            assert await subscriptions() == 0
        finally:
            await admin.close()


async def subscription_count(admin: Client) -> int:
    return int((await admin.get("/api/admin/push"))["subscriptions"])


async def _equals(value: Any, expected: Any) -> bool:
    return bool(await value == expected)
