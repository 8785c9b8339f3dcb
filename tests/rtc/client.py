"""A test-side TURN client that drives a TurnHandler through a FakeLink."""

from __future__ import annotations

import os
from collections.abc import Iterable

from appliance.rtc import stun
from appliance.rtc.credentials import long_term_key, make_turn_credentials
from appliance.rtc.stun import Attr, Message, Method, MsgClass
from appliance.rtc.stun_attributes import AttrValue

from .fakes import SECRET, FakeLink, World

UDP = 17  # REQUESTED-TRANSPORT protocol number (the codec adds the 3 RFFU bytes)


class TurnTestClient:
    """Speaks to the handler like a client; checks integrity on every reply it can."""

    def __init__(self, world: World, link: FakeLink, *, user_id: int = 7, ttl: int = 3600) -> None:
        self.world = world
        self.link = link
        creds = make_turn_credentials(SECRET, user_id, ttl, world.wall.now, [])
        self.username = str(creds["username"])
        self.password = str(creds["credential"])
        self.realm: str | None = None
        self.nonce: str | None = None

    @property
    def key(self) -> bytes:
        assert self.realm is not None
        return long_term_key(self.username, self.realm, self.password)

    def send_raw(self, data: bytes) -> list[bytes]:
        before = len(self.link.sent)
        self.world.handler.handle(data, self.link)
        return self.link.sent[before:]

    def request(
        self,
        method: int,
        attrs: Iterable[tuple[int, AttrValue]] = (),
        *,
        auth: bool = True,
        transaction_id: bytes | None = None,
        fingerprint: bool = False,
        sha256: bool = False,
        key: bytes | None = None,
    ) -> Message:
        msg = Message(method, MsgClass.REQUEST, transaction_id or os.urandom(12), list(attrs))
        if auth:
            if self.nonce is None:
                self.challenge()
            assert self.realm is not None and self.nonce is not None
            msg.add(Attr.USERNAME, self.username).add(Attr.REALM, self.realm)
            msg.add(Attr.NONCE, self.nonce)
        used_key = key or (self.key if auth else None)
        data = stun.encode(msg, key=used_key, sha256=sha256, fingerprint=fingerprint)
        out = self.send_raw(data)
        assert len(out) == 1, f"expected one reply, got {len(out)}"
        reply = stun.decode(out[0])
        assert reply.transaction_id == msg.transaction_id
        assert reply.method == method
        error = reply.get_error()
        if auth and (error is None or error.code not in (400, 401)):
            # Every response to an authenticated request carries MESSAGE-INTEGRITY.
            assert used_key is not None
            assert reply.integrity_offset is not None or reply.integrity_sha256_offset is not None
            assert stun.check_integrity(reply, used_key), "reply integrity does not verify"
        if error is not None and error.code == 438:
            self.nonce = reply.get_str(Attr.NONCE)
        return reply

    def challenge(self) -> Message:
        reply = self.request(Method.ALLOCATE, [(Attr.REQUESTED_TRANSPORT, UDP)], auth=False)
        error = reply.get_error()
        assert error is not None and error.code == 401
        self.realm = reply.get_str(Attr.REALM)
        self.nonce = reply.get_str(Attr.NONCE)
        return reply

    def allocate(
        self, *extra: tuple[int, AttrValue], transaction_id: bytes | None = None
    ) -> Message:
        attrs: list[tuple[int, AttrValue]] = [(Attr.REQUESTED_TRANSPORT, UDP), *extra]
        return self.request(Method.ALLOCATE, attrs, transaction_id=transaction_id)

    def create_permission(self, *peers: tuple[str, int]) -> Message:
        return self.request(
            Method.CREATE_PERMISSION, [(Attr.XOR_PEER_ADDRESS, peer) for peer in peers]
        )

    def channel_bind(self, number: int, peer: tuple[str, int]) -> Message:
        return self.request(
            Method.CHANNEL_BIND, [(Attr.CHANNEL_NUMBER, number), (Attr.XOR_PEER_ADDRESS, peer)]
        )

    def refresh(self, lifetime: int | None = None) -> Message:
        attrs: list[tuple[int, AttrValue]] = []
        if lifetime is not None:
            attrs.append((Attr.LIFETIME, lifetime))
        return self.request(Method.REFRESH, attrs)

    def send_indication(
        self, peer: tuple[str, int], data: bytes, *extra: tuple[int, AttrValue]
    ) -> None:
        msg = Message(Method.SEND, MsgClass.INDICATION, os.urandom(12))
        msg.add(Attr.XOR_PEER_ADDRESS, peer).add(Attr.DATA, data)
        for attr, value in extra:
            msg.add(attr, value)
        assert self.send_raw(stun.encode(msg)) == []


def error_code(reply: Message) -> int | None:
    error = reply.get_error()
    return None if error is None else error.code
