"""The device's STUN/TURN server, asked as a browser's ICE agent would: TURN over TCP.

TCP because QEMU's user network with `restrict=on` drops every UDP datagram the guest
sends but DHCP's; the server, its credentials and the allocation are the same for both.
"""

from __future__ import annotations

import asyncio
import os
import struct

from appliance.rtc import stun
from appliance.rtc.credentials import long_term_key
from appliance.rtc.stun import Attr, Message, Method, MsgClass

UDP = 17  # REQUESTED-TRANSPORT: a UDP relay, as browsers ask for over any transport
TIMEOUT_S = 20


async def _ask(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    msg: Message,
    key: bytes | None = None,
) -> Message:
    """Send one request on the stream and read its reply (STUN frames itself over TCP)."""
    writer.write(stun.encode(msg, key=key))
    await writer.drain()
    head = await asyncio.wait_for(reader.readexactly(20), TIMEOUT_S)
    (length,) = struct.unpack("!H", head[2:4])
    reply = stun.decode(head + await asyncio.wait_for(reader.readexactly(length), TIMEOUT_S))
    assert reply.transaction_id == msg.transaction_id, "a reply to our request"
    return reply


async def relay_address(port: int, username: str, credential: str) -> tuple[str, int]:
    """Allocate a relay with the credentials /api/turn gave: the address peers would reach."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)
    try:
        return await _allocate(reader, writer, username, credential)
    except (asyncio.IncompleteReadError, TimeoutError, ConnectionError) as e:
        raise SystemExit(f"no STUN reply from the device's port 3478: {e!r}") from None
    finally:
        writer.close()


async def _allocate(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, username: str, credential: str
) -> tuple[str, int]:
    binding = Message(Method.BINDING, MsgClass.REQUEST, os.urandom(12))
    mapped = (await _ask(reader, writer, binding)).get_address(Attr.XOR_MAPPED_ADDRESS)
    assert mapped, "STUN binding names our address"
    first = Message(Method.ALLOCATE, MsgClass.REQUEST, os.urandom(12))
    challenge = await _ask(reader, writer, first.add(Attr.REQUESTED_TRANSPORT, UDP))
    error = challenge.get_error()
    assert error is not None and error.code == 401, "an allocation without credentials is refused"
    realm, nonce = challenge.get_str(Attr.REALM), challenge.get_str(Attr.NONCE)
    assert realm and nonce
    key = long_term_key(username, realm, credential)
    request = Message(Method.ALLOCATE, MsgClass.REQUEST, os.urandom(12))
    request.add(Attr.REQUESTED_TRANSPORT, UDP).add(Attr.USERNAME, username)
    request.add(Attr.REALM, realm).add(Attr.NONCE, nonce)
    reply = await _ask(reader, writer, request, key)
    if reply.get_error() is not None or not stun.check_integrity(reply, key):
        raise SystemExit(f"TURN allocation refused: {reply.get_error()}")
    relayed = reply.get_address(Attr.XOR_RELAYED_ADDRESS)
    assert relayed is not None, "an allocation names its relayed address"
    return relayed[0], relayed[1]
