"""Fast paths for relayed data (RFC 8656 §11, §12): ChannelData framing, Send
indications in and Data indications out, without building a generic :class:`Message`.

The Send parser applies the same checks as :func:`stun.decode` (a property test keeps
them in step) and raises only :class:`StunError`.
"""

from __future__ import annotations

import os
from typing import NamedTuple

from .stun import (
    _ATTR_HEAD,
    HEADER,
    HEADER_SIZE,
    Method,
    MsgClass,
    _check_fingerprint,
    message_type,
    pad4,
)
from .stun_attributes import CODECS, MAGIC_COOKIE, Address, Attr, StunError

# RFC 8656 §12 allows 0x4000-0x4FFF; RFC 5766 allowed 0x4000-0x7FFF and coturn (whose
# clients pick numbers up to 0x7FFF) still does, so this codec accepts the wider range.
CHANNEL_MIN, CHANNEL_MAX = 0x4000, 0x7FFF
_CHANNEL_HEAD = _ATTR_HEAD
SEND_TYPE = message_type(Method.SEND, MsgClass.INDICATION)


class SendIndication(NamedTuple):
    peer: Address | None
    data: bytes | None
    dont_fragment: bool
    unknown_required: bool


def decode_send_indication(data: bytes) -> SendIndication:
    """XOR-PEER-ADDRESS, DATA and DONT-FRAGMENT of a Send indication (RFC 8656 §11.2)."""
    if len(data) < HEADER_SIZE:
        raise StunError("message shorter than the 20-byte header")
    msg_type, length, cookie, tid = HEADER.unpack_from(data)
    if msg_type != SEND_TYPE:
        raise StunError("not a Send indication")
    if cookie != MAGIC_COOKIE:
        raise StunError("bad magic cookie")
    if length % 4:
        raise StunError("message length is not a multiple of 4")
    if HEADER_SIZE + length != len(data):
        raise StunError("message length does not match the bytes received")
    peer: Address | None = None
    payload: bytes | None = None
    dont_fragment = unknown = seen_integrity = seen_sha256 = False
    offset, end = HEADER_SIZE, len(data)
    while offset < end:
        attr_type, attr_len = _ATTR_HEAD.unpack_from(data, offset)
        start = offset + 4
        next_offset = start + pad4(attr_len)
        if next_offset > end:
            raise StunError(f"attribute 0x{attr_type:04x} overruns the message")
        value = data[start : start + attr_len]
        if attr_type == Attr.FINGERPRINT:
            _check_fingerprint(data, offset, value)  # raises unless it is the last one
        elif seen_integrity or seen_sha256:
            # RFC 8489 §9: what follows the integrity attributes is ignored.
            if attr_type == Attr.MESSAGE_INTEGRITY_SHA256 and not seen_sha256:
                CODECS[attr_type][0](value, tid)
                seen_sha256 = True
        elif attr_type in CODECS:
            decoded = CODECS[attr_type][0](value, tid)  # validates every known attribute
            if attr_type == Attr.XOR_PEER_ADDRESS and peer is None:
                assert isinstance(decoded, tuple) and isinstance(decoded[0], str)
                peer = (decoded[0], int(decoded[1]))
            elif attr_type == Attr.DATA and payload is None:
                payload = value
            elif attr_type == Attr.DONT_FRAGMENT:
                dont_fragment = True
            elif attr_type == Attr.MESSAGE_INTEGRITY:
                seen_integrity = True
            elif attr_type == Attr.MESSAGE_INTEGRITY_SHA256:
                seen_sha256 = True
        elif attr_type < 0x8000:
            unknown = True
        offset = next_offset
    return SendIndication(peer, payload, dont_fragment, unknown)


_DATA_TYPE = message_type(Method.DATA, MsgClass.INDICATION)


def encode_data_indication(peer: Address, data: bytes) -> bytes:
    """A Data indication with XOR-PEER-ADDRESS and DATA, without the generic encoder."""
    tid = os.urandom(12)
    encode_peer = CODECS[Attr.XOR_PEER_ADDRESS][1]
    addr = encode_peer(peer, tid)
    padding = bytes(pad4(len(data)) - len(data))
    length = 4 + len(addr) + 4 + len(data) + len(padding)
    return b"".join(
        (
            HEADER.pack(_DATA_TYPE, length, MAGIC_COOKIE, tid),
            _ATTR_HEAD.pack(Attr.XOR_PEER_ADDRESS, len(addr)),
            addr,
            _ATTR_HEAD.pack(Attr.DATA, len(data)),
            data,
            padding,
        )
    )


def is_channel_data(data: bytes) -> bool:
    """A first byte 0x40-0x7F is a ChannelData message (RFC 8656 §12, RFC 5766 range)."""
    return len(data) >= 1 and 0x40 <= data[0] <= 0x7F


def decode_channel_data(data: bytes) -> tuple[int, bytes]:
    """Channel number and application data. Bytes past the claimed length (padding)
    are ignored; a frame shorter than its claimed length is an error (RFC 8656 §12.6)."""
    if len(data) < 4:
        raise StunError("ChannelData shorter than its 4-byte header")
    number, length = _CHANNEL_HEAD.unpack_from(data)
    if not CHANNEL_MIN <= number <= CHANNEL_MAX:
        raise StunError("channel number outside 0x4000-0x7FFF")
    if 4 + length > len(data):
        raise StunError("ChannelData shorter than its length field")
    return number, data[4 : 4 + length]


def encode_channel_data(number: int, data: bytes, *, pad: bool) -> bytes:
    """ChannelData; over TCP it "MUST be padded to a multiple of four bytes" (§12.5)."""
    head = _CHANNEL_HEAD.pack(number, len(data))
    if pad and len(data) % 4:
        return head + data + bytes(4 - len(data) % 4)
    return head + data


def stream_frame_length(head: bytes | bytearray) -> int:
    """Total size of the frame starting with ``head`` (4+ bytes) on a TCP stream.

    STUN: 20 + length. ChannelData: 4 + length rounded up to 4 (RFC 8656 §12.5).
    Anything else cannot be framed and raises :class:`StunError`.
    """
    first = head[0]
    length = (head[2] << 8) | head[3]
    if first <= 0x03:
        if length % 4:
            raise StunError("STUN length is not a multiple of 4")
        return HEADER_SIZE + length
    if 0x40 <= first <= 0x7F:
        return pad4(4 + length)
    raise StunError("neither STUN nor ChannelData")
