"""STUN message codec (RFC 8489) and TURN ChannelData framing (RFC 8656 §12.4).

Pure: bytes in, :class:`Message` out and back, no I/O. Decoding checks every length
and bound and raises only :class:`StunError`; padding bytes may hold any value.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import os
import struct
from dataclasses import dataclass, field
from enum import IntEnum

from .stun_attributes import (
    CODECS,
    MAGIC_COOKIE,
    Address,
    Attr,
    AttrValue,
    ErrorCode,
    StunError,
    is_comprehension_required,
)

__all__ = [
    "MAGIC_COOKIE",
    "Attr",
    "ErrorCode",
    "Message",
    "Method",
    "MsgClass",
    "StunError",
    "decode",
    "encode",
]

HEADER = struct.Struct("!HHI12s")
HEADER_SIZE = 20
_ATTR_HEAD = struct.Struct("!HH")
FINGERPRINT_XOR = 0x5354554E
_MI_SIZE = 4 + 20
_FINGERPRINT_SIZE = 4 + 4


class MsgClass(IntEnum):
    REQUEST = 0
    INDICATION = 1
    SUCCESS = 2
    ERROR = 3


class Method(IntEnum):
    BINDING = 0x001
    ALLOCATE = 0x003
    REFRESH = 0x004
    SEND = 0x006
    DATA = 0x007
    CREATE_PERMISSION = 0x008
    CHANNEL_BIND = 0x009
    CONNECT = 0x00A
    CONNECTION_BIND = 0x00B
    CONNECTION_ATTEMPT = 0x00C


#: Reason phrases sent with each error code (RFC 8489 §14.8, RFC 8656 §19).
REASONS: dict[int, str] = {
    400: "Bad Request",
    401: "Unauthenticated",
    403: "Forbidden",
    420: "Unknown Attribute",
    437: "Allocation Mismatch",
    438: "Stale Nonce",
    440: "Address Family not Supported",
    441: "Wrong Credentials",
    442: "Unsupported Transport Protocol",
    443: "Peer Address Family Mismatch",
    486: "Allocation Quota Reached",
    500: "Server Error",
    508: "Insufficient Capacity",
}


def pad4(size: int) -> int:
    """``size`` rounded up to a multiple of four."""
    return (size + 3) & ~3


def message_type(method: int, cls: int) -> int:
    """RFC 8489 §5: interleave the 12 method bits with the 2 class bits."""
    return (
        (method & 0x000F)
        | ((method & 0x0070) << 1)
        | ((method & 0x0F80) << 2)
        | ((cls & 0x1) << 4)
        | ((cls & 0x2) << 7)
    )


def split_type(msg_type: int) -> tuple[int, int]:
    method = (msg_type & 0x000F) | ((msg_type & 0x00E0) >> 1) | ((msg_type & 0x3E00) >> 2)
    cls = ((msg_type & 0x0010) >> 4) | ((msg_type & 0x0100) >> 7)
    return method, cls


def new_transaction_id() -> bytes:
    return os.urandom(12)


@dataclass(slots=True)
class Message:
    """A STUN message. Attributes keep their order; a type may appear more than once."""

    method: int
    cls: int
    transaction_id: bytes
    attributes: list[tuple[int, AttrValue]] = field(default_factory=list)
    #: comprehension-required attribute types this codec does not know (RFC 8489 §6.3.1).
    unknown_required: tuple[int, ...] = ()
    #: the received bytes and where each integrity attribute started, for verification.
    raw: bytes = b""
    integrity_offset: int | None = None
    integrity_sha256_offset: int | None = None
    has_fingerprint: bool = False

    def add(self, attr: int, value: AttrValue) -> Message:
        self.attributes.append((attr, value))
        return self

    def has(self, attr: int) -> bool:
        return any(a == attr for a, _ in self.attributes)

    def get(self, attr: int) -> AttrValue | None:
        for a, value in self.attributes:
            if a == attr:
                return value
        return None

    def get_all(self, attr: int) -> list[AttrValue]:
        return [value for a, value in self.attributes if a == attr]

    def get_int(self, attr: int) -> int | None:
        value = self.get(attr)
        return value if isinstance(value, int) else None

    def get_str(self, attr: int) -> str | None:
        value = self.get(attr)
        return value if isinstance(value, str) else None

    def get_bytes(self, attr: int) -> bytes | None:
        value = self.get(attr)
        return value if isinstance(value, bytes) else None

    def get_address(self, attr: int) -> Address | None:
        value = self.get(attr)
        return _as_address(value)

    def get_addresses(self, attr: int) -> list[Address]:
        found = [_as_address(v) for v in self.get_all(attr)]
        return [a for a in found if a is not None]

    def get_error(self) -> ErrorCode | None:
        value = self.get(Attr.ERROR_CODE)
        return value if isinstance(value, ErrorCode) else None


def _as_address(value: AttrValue | None) -> Address | None:
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str):
        host, port = value
        if isinstance(port, int):
            return host, port
    return None


def decode(data: bytes) -> Message:
    """Parse one STUN message that fills ``data`` exactly (RFC 8489 §5, §6.3, §14)."""
    if len(data) < HEADER_SIZE:
        raise StunError("message shorter than the 20-byte header")
    msg_type, length, cookie, tid = HEADER.unpack_from(data)
    # RFC 8489 §6.3: the first two bits are 0, the magic cookie is right, the length
    # is sensible; "if any errors are detected, the message is silently discarded".
    if msg_type & 0xC000:
        raise StunError("first two bits of the message type are not zero")
    if cookie != MAGIC_COOKIE:
        raise StunError("bad magic cookie")
    if length % 4:
        raise StunError("message length is not a multiple of 4")
    if HEADER_SIZE + length != len(data):
        raise StunError("message length does not match the bytes received")
    method, cls = split_type(msg_type)
    msg = Message(method, cls, tid, raw=bytes(data))
    unknown: list[int] = []
    offset, end = HEADER_SIZE, len(data)
    while offset < end:
        attr_type, attr_len = _ATTR_HEAD.unpack_from(data, offset)
        start = offset + 4
        next_offset = start + pad4(attr_len)
        if next_offset > end:
            raise StunError(f"attribute 0x{attr_type:04x} overruns the message")
        if msg.has_fingerprint:
            raise StunError("attribute after FINGERPRINT")
        value = data[start : start + attr_len]
        if attr_type == Attr.FINGERPRINT:
            _check_fingerprint(data, offset, value)
            msg.has_fingerprint = True
        elif msg.integrity_offset is not None or msg.integrity_sha256_offset is not None:
            # RFC 8489 §9: "agents MUST ignore all attributes that follow
            # MESSAGE-INTEGRITY, with the exception of the MESSAGE-INTEGRITY-SHA256 and
            # FINGERPRINT attributes" (and all but FINGERPRINT after -SHA256).
            if attr_type == Attr.MESSAGE_INTEGRITY_SHA256 and msg.integrity_sha256_offset is None:
                _store(msg, attr_type, value, tid)
                msg.integrity_sha256_offset = offset
        else:
            if attr_type == Attr.MESSAGE_INTEGRITY:
                msg.integrity_offset = offset
            elif attr_type == Attr.MESSAGE_INTEGRITY_SHA256:
                msg.integrity_sha256_offset = offset
            if attr_type in CODECS:
                _store(msg, attr_type, value, tid)
            elif is_comprehension_required(attr_type) and attr_type not in unknown:
                unknown.append(attr_type)
        offset = next_offset
    msg.unknown_required = tuple(unknown)
    return msg


def _store(msg: Message, attr_type: int, value: bytes, tid: bytes) -> None:
    decoder = CODECS[attr_type][0]
    msg.attributes.append((attr_type, decoder(value, tid)))


def _check_fingerprint(data: bytes, offset: int, value: bytes) -> None:
    # RFC 8489 §14.7: FINGERPRINT is the last attribute and holds CRC-32 of the message
    # up to it, XOR 0x5354554e.
    if len(value) != 4:
        raise StunError("FINGERPRINT must be 4 bytes")
    if offset + _FINGERPRINT_SIZE != len(data):
        raise StunError("FINGERPRINT is not the last attribute")
    expected = (binascii.crc32(data[:offset]) ^ FINGERPRINT_XOR) & 0xFFFFFFFF
    if struct.unpack("!I", value)[0] != expected:
        raise StunError("FINGERPRINT does not match")


def _with_length(head: bytes | bytearray, length: int) -> bytes:
    return bytes(head[:2]) + struct.pack("!H", length) + bytes(head[4:HEADER_SIZE])


def check_integrity(msg: Message, key: bytes) -> bool:
    """Verify MESSAGE-INTEGRITY-SHA256 if present, else MESSAGE-INTEGRITY (RFC 8489 §9.2.4).

    The HMAC covers the message up to the attribute, with the header length field
    counting up to and including that attribute (RFC 8489 §14.5, §14.6).
    """
    raw = msg.raw
    if msg.integrity_sha256_offset is not None:
        offset = msg.integrity_sha256_offset
        expected = msg.get_bytes(Attr.MESSAGE_INTEGRITY_SHA256)
        digest = hashlib.sha256
    elif msg.integrity_offset is not None:
        offset = msg.integrity_offset
        expected = msg.get_bytes(Attr.MESSAGE_INTEGRITY)
        digest = hashlib.sha1
    else:
        return False
    if expected is None:
        return False
    covered = _with_length(raw, offset - HEADER_SIZE + 4 + len(expected)) + raw[HEADER_SIZE:offset]
    mac = hmac.new(key, covered, digest).digest()[: len(expected)]
    return hmac.compare_digest(mac, expected)


def encode(
    msg: Message,
    *,
    key: bytes | None = None,
    sha256: bool = False,
    fingerprint: bool = False,
) -> bytes:
    """Serialise ``msg``; with ``key`` append MESSAGE-INTEGRITY (or -SHA256), then
    FINGERPRINT if asked. Padding is written as zero bytes."""
    if len(msg.transaction_id) != 12:
        raise StunError("transaction id must be 12 bytes")
    body = bytearray()
    for attr_type, value in msg.attributes:
        if attr_type in (Attr.MESSAGE_INTEGRITY, Attr.MESSAGE_INTEGRITY_SHA256, Attr.FINGERPRINT):
            continue
        codec = CODECS.get(attr_type)
        if codec is None:
            if not isinstance(value, bytes):
                raise StunError(f"attribute 0x{attr_type:04x} has no codec and needs bytes")
            raw = value
        else:
            raw = codec[1](value, msg.transaction_id)
        if len(raw) > 0xFFFF:
            raise StunError(f"attribute 0x{attr_type:04x} longer than 65535 bytes")
        body += _ATTR_HEAD.pack(attr_type, len(raw)) + raw + bytes(pad4(len(raw)) - len(raw))
    head = HEADER.pack(message_type(msg.method, msg.cls), 0, MAGIC_COOKIE, msg.transaction_id)
    if key is not None:
        attr, digest, size = (
            (Attr.MESSAGE_INTEGRITY_SHA256, hashlib.sha256, 32)
            if sha256
            else (Attr.MESSAGE_INTEGRITY, hashlib.sha1, 20)
        )
        mac = hmac.new(key, _with_length(head, len(body) + 4 + size) + body, digest).digest()
        body += _ATTR_HEAD.pack(attr, size) + mac
    if fingerprint:
        crc = binascii.crc32(_with_length(head, len(body) + _FINGERPRINT_SIZE) + body)
        body += _ATTR_HEAD.pack(Attr.FINGERPRINT, 4) + struct.pack(
            "!I", (crc ^ FINGERPRINT_XOR) & 0xFFFFFFFF
        )
    if len(body) > 0xFFFF:
        raise StunError("message longer than 65535 bytes")
    return _with_length(head, len(body)) + bytes(body)


def response_to(request: Message, cls: MsgClass) -> Message:
    return Message(request.method, cls, request.transaction_id)


def error_response(request: Message, code: int) -> Message:
    msg = response_to(request, MsgClass.ERROR)
    msg.add(Attr.ERROR_CODE, ErrorCode(code, REASONS.get(code, "Error")))
    return msg
