"""STUN attribute codecs: one table, one decoder and one encoder per value shape.

Pure functions, no I/O. Every malformed value raises :class:`StunError` with an exact
text; nothing else escapes a decoder.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

MAGIC_COOKIE = 0x2112A442
_COOKIE_BYTES = struct.pack("!I", MAGIC_COOKIE)

FAMILY_IPV4 = 0x01
FAMILY_IPV6 = 0x02
TRANSPORT_UDP = 17
TRANSPORT_TCP = 6


class StunError(ValueError):
    """A message or attribute that does not follow the wire format."""


class Attr(IntEnum):
    """Attribute types (RFC 8489 §18.3, RFC 8656 §18, RFC 8445 §16.1)."""

    MAPPED_ADDRESS = 0x0001
    USERNAME = 0x0006
    MESSAGE_INTEGRITY = 0x0008
    ERROR_CODE = 0x0009
    UNKNOWN_ATTRIBUTES = 0x000A
    CHANNEL_NUMBER = 0x000C
    LIFETIME = 0x000D
    XOR_PEER_ADDRESS = 0x0012
    DATA = 0x0013
    REALM = 0x0014
    NONCE = 0x0015
    XOR_RELAYED_ADDRESS = 0x0016
    REQUESTED_ADDRESS_FAMILY = 0x0017
    EVEN_PORT = 0x0018
    REQUESTED_TRANSPORT = 0x0019
    DONT_FRAGMENT = 0x001A
    MESSAGE_INTEGRITY_SHA256 = 0x001C
    PASSWORD_ALGORITHM = 0x001D
    USERHASH = 0x001E
    XOR_MAPPED_ADDRESS = 0x0020
    RESERVATION_TOKEN = 0x0022
    PRIORITY = 0x0024
    USE_CANDIDATE = 0x0025
    ADDITIONAL_ADDRESS_FAMILY = 0x8000
    ADDRESS_ERROR_CODE = 0x8001
    PASSWORD_ALGORITHMS = 0x8002
    ALTERNATE_DOMAIN = 0x8003
    SOFTWARE = 0x8022
    ALTERNATE_SERVER = 0x8023
    FINGERPRINT = 0x8028
    ICE_CONTROLLED = 0x8029
    ICE_CONTROLLING = 0x802A
    RESPONSE_ORIGIN = 0x802B
    OTHER_ADDRESS = 0x802C


@dataclass(frozen=True, slots=True)
class ErrorCode:
    """ERROR-CODE (RFC 8489 §14.8): a code from 300 to 699 and a reason phrase."""

    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class AddressErrorCode:
    """ADDRESS-ERROR-CODE (RFC 8656 §18.13): an address family and an error code."""

    family: int
    code: int
    reason: str


Address = tuple[str, int]
AttrValue = bytes | str | int | Address | ErrorCode | AddressErrorCode | tuple[int, ...]
Decoder = Callable[[bytes, bytes], AttrValue]
Encoder = Callable[[AttrValue, bytes], bytes]


def _fail(text: str) -> StunError:
    return StunError(text)


# -- addresses (RFC 8489 §14.1, §14.2) -------------------------------------------------


def _decode_address(value: bytes, xor: bytes | None) -> Address:
    if len(value) < 4:
        raise _fail("address attribute shorter than 4 bytes")
    family = value[1]
    if family == FAMILY_IPV4:
        size, af = 4, socket.AF_INET
    elif family == FAMILY_IPV6:
        size, af = 16, socket.AF_INET6
    else:
        raise _fail(f"unknown address family 0x{family:02x}")
    if len(value) != 4 + size:
        raise _fail("address attribute length does not match its family")
    port = struct.unpack_from("!H", value, 2)[0]
    raw = value[4:]
    if xor is not None:
        port ^= MAGIC_COOKIE >> 16
        raw = _xor_bytes(raw, xor)
    return socket.inet_ntop(af, raw), port


def _encode_address(value: AttrValue, xor: bytes | None) -> bytes:
    if not (isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str)):
        raise _fail("address attribute needs a (host, port) tuple")
    host, port = value
    if not isinstance(port, int) or not 0 <= port <= 0xFFFF:
        raise _fail("address port out of range")
    try:
        if ":" in host:
            family, raw = FAMILY_IPV6, socket.inet_pton(socket.AF_INET6, host)
        else:
            family, raw = FAMILY_IPV4, socket.inet_pton(socket.AF_INET, host)
    except OSError as exc:
        raise _fail(f"not an IP address: {host!r}") from exc
    if xor is not None:
        port ^= MAGIC_COOKIE >> 16
        raw = _xor_bytes(raw, xor)
    return struct.pack("!BBH", 0, family, port) + raw


def _xor_bytes(raw: bytes, key: bytes) -> bytes:
    size = len(raw)
    mixed = int.from_bytes(raw, "big") ^ int.from_bytes(key[:size], "big")
    return mixed.to_bytes(size, "big")


def _xor_key(transaction_id: bytes) -> bytes:
    return _COOKIE_BYTES + transaction_id


def _dec_plain_address(value: bytes, tid: bytes) -> AttrValue:
    return _decode_address(value, None)


def _enc_plain_address(value: AttrValue, tid: bytes) -> bytes:
    return _encode_address(value, None)


def _dec_xor_address(value: bytes, tid: bytes) -> AttrValue:
    return _decode_address(value, _xor_key(tid))


def _enc_xor_address(value: AttrValue, tid: bytes) -> bytes:
    return _encode_address(value, _xor_key(tid))


# -- strings, opaque bytes, integers ---------------------------------------------------


def _text(max_bytes: int) -> tuple[Decoder, Encoder]:
    def decode(value: bytes, tid: bytes) -> AttrValue:
        if len(value) > max_bytes:
            raise _fail(f"text attribute longer than {max_bytes} bytes")
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _fail("text attribute is not valid UTF-8") from exc

    def encode(value: AttrValue, tid: bytes) -> bytes:
        if not isinstance(value, str):
            raise _fail("text attribute needs a str")
        try:
            raw = value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise _fail("text attribute cannot be encoded as UTF-8") from exc
        if len(raw) > max_bytes:
            raise _fail(f"text attribute longer than {max_bytes} bytes")
        return raw

    return decode, encode


def _opaque(min_len: int, max_len: int, multiple: int = 1) -> tuple[Decoder, Encoder]:
    def check(raw: bytes) -> bytes:
        if not min_len <= len(raw) <= max_len or len(raw) % multiple:
            raise _fail(f"attribute length {len(raw)} is not allowed here")
        return raw

    def decode(value: bytes, tid: bytes) -> AttrValue:
        return check(value)

    def encode(value: AttrValue, tid: bytes) -> bytes:
        if not isinstance(value, bytes):
            raise _fail("opaque attribute needs bytes")
        return check(value)

    return decode, encode


def _unsigned(fmt: str) -> tuple[Decoder, Encoder]:
    packer = struct.Struct("!" + fmt)
    limit = 1 << (8 * packer.size)

    def decode(value: bytes, tid: bytes) -> AttrValue:
        if len(value) != packer.size:
            raise _fail(f"integer attribute must be {packer.size} bytes")
        result: int = packer.unpack(value)[0]
        return result

    def encode(value: AttrValue, tid: bytes) -> bytes:
        if not isinstance(value, int) or not 0 <= value < limit:
            raise _fail("integer attribute out of range")
        return packer.pack(value)

    return decode, encode


def _leading(size: int, *, rffu: int) -> tuple[Decoder, Encoder]:
    """A ``size``-byte unsigned integer followed by ``rffu`` reserved bytes."""
    packer = struct.Struct("!B" if size == 1 else "!H")

    def decode(value: bytes, tid: bytes) -> AttrValue:
        if len(value) != size + rffu:
            raise _fail(f"attribute must be {size + rffu} bytes")
        result: int = packer.unpack_from(value)[0]
        return result

    def encode(value: AttrValue, tid: bytes) -> bytes:
        if not isinstance(value, int) or not 0 <= value < (1 << (8 * size)):
            raise _fail("attribute value out of range")
        return packer.pack(value) + bytes(rffu)

    return decode, encode


def _dec_empty(value: bytes, tid: bytes) -> AttrValue:
    if value:
        raise _fail("flag attribute must be empty")
    return b""


def _enc_empty(value: AttrValue, tid: bytes) -> bytes:
    return b""


# -- error codes and attribute lists (RFC 8489 §14.8, §14.9; RFC 8656 §18.13) ------


def _split_code(head: int) -> int:
    klass, number = (head >> 8) & 0x7, head & 0xFF
    if not 3 <= klass <= 6 or number > 99:
        raise _fail("error code out of range")
    return klass * 100 + number


def _reason(raw: bytes) -> str:
    if len(raw) > 763:
        raise _fail("error reason longer than 763 bytes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _fail("error reason is not valid UTF-8") from exc


def _dec_error(value: bytes, tid: bytes) -> AttrValue:
    if len(value) < 4:
        raise _fail("ERROR-CODE shorter than 4 bytes")
    head = struct.unpack_from("!I", value)[0]
    if head >> 11:
        raise _fail("ERROR-CODE reserved bits are set")
    return ErrorCode(_split_code(head), _reason(value[4:]))


def _pack_code(code: int, reason: str) -> bytes:
    if not 300 <= code <= 699:
        raise _fail("error code out of range")
    return struct.pack("!HBB", 0, code // 100, code % 100) + reason.encode("utf-8")


def _enc_error(value: AttrValue, tid: bytes) -> bytes:
    if not isinstance(value, ErrorCode):
        raise _fail("ERROR-CODE needs an ErrorCode")
    return _pack_code(value.code, value.reason)


def _dec_address_error(value: bytes, tid: bytes) -> AttrValue:
    if len(value) < 4:
        raise _fail("ADDRESS-ERROR-CODE shorter than 4 bytes")
    family, _, klass, number = struct.unpack_from("!BBBB", value)
    return AddressErrorCode(family, _split_code((klass << 8) | number), _reason(value[4:]))


def _enc_address_error(value: AttrValue, tid: bytes) -> bytes:
    if not isinstance(value, AddressErrorCode):
        raise _fail("ADDRESS-ERROR-CODE needs an AddressErrorCode")
    return bytes([value.family]) + _pack_code(value.code, value.reason)[1:]


def _dec_u16_list(value: bytes, tid: bytes) -> AttrValue:
    if len(value) % 2:
        raise _fail("attribute list length is odd")
    return struct.unpack(f"!{len(value) // 2}H", value)


def _enc_u16_list(value: AttrValue, tid: bytes) -> bytes:
    if not isinstance(value, tuple) or not all(
        isinstance(v, int) and 0 <= v <= 0xFFFF for v in value
    ):
        raise _fail("attribute list needs a tuple of 16-bit integers")
    return struct.pack(f"!{len(value)}H", *value)


def _dec_algorithms(value: bytes, tid: bytes) -> AttrValue:
    """PASSWORD-ALGORITHM(S) (RFC 8489 §14.11, §14.12): algorithm numbers, params kept out."""
    found: list[int] = []
    offset = 0
    while offset < len(value):
        if len(value) - offset < 4:
            raise _fail("password algorithm entry truncated")
        algorithm, size = struct.unpack_from("!HH", value, offset)
        offset += 4 + size + (-size % 4)
        if offset > len(value):
            raise _fail("password algorithm parameters overrun the attribute")
        found.append(algorithm)
    return tuple(found)


def _enc_algorithms(value: AttrValue, tid: bytes) -> bytes:
    if not isinstance(value, tuple):
        raise _fail("password algorithms need a tuple of integers")
    return b"".join(struct.pack("!HH", int(v), 0) for v in value)


def _dec_single_algorithm(value: bytes, tid: bytes) -> AttrValue:
    found = _dec_algorithms(value, tid)
    if not isinstance(found, tuple) or len(found) != 1:
        raise _fail("PASSWORD-ALGORITHM must hold exactly one algorithm")
    return found


_TEXT_513 = _text(513)
_TEXT_763 = _text(763)
_U32 = _unsigned("I")
_U64 = _unsigned("Q")
_U8_RFFU3 = _leading(1, rffu=3)
_XOR = (_dec_xor_address, _enc_xor_address)
_PLAIN = (_dec_plain_address, _enc_plain_address)

#: The one table of attribute codecs: type -> (decoder, encoder).
CODECS: dict[int, tuple[Decoder, Encoder]] = {
    Attr.MAPPED_ADDRESS: _PLAIN,
    Attr.USERNAME: _TEXT_513,
    Attr.MESSAGE_INTEGRITY: _opaque(20, 20),
    Attr.ERROR_CODE: (_dec_error, _enc_error),
    Attr.UNKNOWN_ATTRIBUTES: (_dec_u16_list, _enc_u16_list),
    Attr.CHANNEL_NUMBER: _leading(2, rffu=2),
    Attr.LIFETIME: _U32,
    Attr.XOR_PEER_ADDRESS: _XOR,
    Attr.DATA: _opaque(0, 0xFFFF),
    Attr.REALM: _TEXT_763,
    Attr.NONCE: _TEXT_763,
    Attr.XOR_RELAYED_ADDRESS: _XOR,
    Attr.REQUESTED_ADDRESS_FAMILY: _U8_RFFU3,
    Attr.EVEN_PORT: _leading(1, rffu=0),
    Attr.REQUESTED_TRANSPORT: _U8_RFFU3,
    Attr.DONT_FRAGMENT: (_dec_empty, _enc_empty),
    Attr.MESSAGE_INTEGRITY_SHA256: _opaque(16, 32, multiple=4),
    Attr.PASSWORD_ALGORITHM: (_dec_single_algorithm, _enc_algorithms),
    Attr.USERHASH: _opaque(32, 32),
    Attr.XOR_MAPPED_ADDRESS: _XOR,
    Attr.RESERVATION_TOKEN: _opaque(8, 8),
    Attr.PRIORITY: _U32,
    Attr.USE_CANDIDATE: (_dec_empty, _enc_empty),
    Attr.ADDITIONAL_ADDRESS_FAMILY: _U8_RFFU3,
    Attr.ADDRESS_ERROR_CODE: (_dec_address_error, _enc_address_error),
    Attr.PASSWORD_ALGORITHMS: (_dec_algorithms, _enc_algorithms),
    Attr.ALTERNATE_DOMAIN: _TEXT_763,
    Attr.SOFTWARE: _TEXT_763,
    Attr.ALTERNATE_SERVER: _PLAIN,
    Attr.FINGERPRINT: _U32,
    Attr.ICE_CONTROLLED: _U64,
    Attr.ICE_CONTROLLING: _U64,
    Attr.RESPONSE_ORIGIN: _PLAIN,
    Attr.OTHER_ADDRESS: _PLAIN,
}


def is_comprehension_required(attr_type: int) -> bool:
    """RFC 8489 §14: types 0x0000-0x7FFF must be understood by the receiver."""
    return attr_type < 0x8000
