"""The device's STUN/TURN server, asked over UDP as a browser's ICE agent would."""

from __future__ import annotations

import asyncio
import os

from appliance.rtc import stun
from appliance.rtc.credentials import long_term_key
from appliance.rtc.stun import Attr, Message, Method, MsgClass

UDP = 17  # REQUESTED-TRANSPORT: a UDP relay


class _Exchange(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.replies: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        self.replies.put_nowait(data)


async def _ask(
    transport: asyncio.DatagramTransport,
    exchange: _Exchange,
    msg: Message,
    key: bytes | None = None,
) -> Message:
    """Send one request and return its reply (retransmitted, as RFC 8489 asks over UDP)."""
    data = stun.encode(msg, key=key)
    for wait in (0.5, 1, 2, 4, 8):
        transport.sendto(data)
        try:
            while True:
                reply = stun.decode(await asyncio.wait_for(exchange.replies.get(), wait))
                if reply.transaction_id == msg.transaction_id:
                    return reply
        except TimeoutError:
            continue
    raise SystemExit("no STUN reply from the device's port 3478")


async def relay_address(port: int, username: str, credential: str) -> tuple[str, int]:
    """Allocate a relay with the credentials /api/turn gave: the address peers would reach.
    One socket throughout: the server ties its nonce to the client's address and port."""
    loop = asyncio.get_running_loop()
    transport, exchange = await loop.create_datagram_endpoint(
        _Exchange, remote_addr=("127.0.0.1", port)
    )
    try:
        return await _allocate(transport, exchange, username, credential)
    finally:
        transport.close()


async def _allocate(
    transport: asyncio.DatagramTransport, exchange: _Exchange, username: str, credential: str
) -> tuple[str, int]:
    binding = Message(Method.BINDING, MsgClass.REQUEST, os.urandom(12))
    mapped = (await _ask(transport, exchange, binding)).get_address(Attr.XOR_MAPPED_ADDRESS)
    assert mapped, "STUN binding names our address"
    first = Message(Method.ALLOCATE, MsgClass.REQUEST, os.urandom(12))
    challenge = await _ask(transport, exchange, first.add(Attr.REQUESTED_TRANSPORT, UDP))
    error = challenge.get_error()
    assert error is not None and error.code == 401, "an allocation without credentials is refused"
    realm, nonce = challenge.get_str(Attr.REALM), challenge.get_str(Attr.NONCE)
    assert realm and nonce
    key = long_term_key(username, realm, credential)
    request = Message(Method.ALLOCATE, MsgClass.REQUEST, os.urandom(12))
    request.add(Attr.REQUESTED_TRANSPORT, UDP).add(Attr.USERNAME, username)
    request.add(Attr.REALM, realm).add(Attr.NONCE, nonce)
    reply = await _ask(transport, exchange, request, key)
    if reply.get_error() is not None or not stun.check_integrity(reply, key):
        raise SystemExit(f"TURN allocation refused: {reply.get_error()}")
    relayed = reply.get_address(Attr.XOR_RELAYED_ADDRESS)
    assert relayed is not None, "an allocation names its relayed address"
    return relayed[0], relayed[1]
