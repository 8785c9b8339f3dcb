"""The STUN codec against the RFC 5769 vectors, and its refusals of malformed input."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest

from appliance.rtc import datapath, stun
from appliance.rtc.credentials import long_term_key
from appliance.rtc.stun import Attr, Message, Method, MsgClass, StunError
from appliance.rtc.stun_attributes import AddressErrorCode, ErrorCode

# A copy of shared/vectors/rfc5769.json (RFC 5769 §2.1-2.4, RFC 8489 B.1 + erratum 6268).
VECTORS_FILE = Path(__file__).with_name("rfc5769.json")


def _vectors() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(VECTORS_FILE.read_text(encoding="utf-8"))["vectors"]
    return data


VECTORS = _vectors()


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_vector_decodes_and_verifies(name: str) -> None:
    vector = VECTORS[name]
    data = bytes.fromhex(vector["hex"])
    msg = stun.decode(data)
    assert len(data) == vector["length_bytes"]
    assert msg.transaction_id.hex() == vector["transaction_id"]
    assert stun.message_type(msg.method, msg.cls) == int(vector["message_type"], 16)
    assert stun.check_integrity(msg, bytes.fromhex(vector["hmac_key_hex"]))
    assert not stun.check_integrity(msg, b"wrong key")
    assert msg.has_fingerprint == ("fingerprint" in vector)
    if "software" in vector:
        assert msg.get_str(Attr.SOFTWARE) == vector["software"]
    if "mapped_address" in vector:
        expected = (vector["mapped_address"], vector["mapped_port"])
        assert msg.get_address(Attr.XOR_MAPPED_ADDRESS) == expected
    if "username" in vector and "USERHASH" not in vector["credential"]:
        assert msg.get_str(Attr.USERNAME) == vector["username"]
    if "realm" in vector:
        assert msg.get_str(Attr.REALM) == vector["realm"]
        assert msg.get_str(Attr.NONCE) == vector["nonce"]
    assert msg.unknown_required == ()


def test_short_term_request_details() -> None:
    msg = stun.decode(bytes.fromhex(VECTORS["rfc5769_2_1_sample_request"]["hex"]))
    assert (msg.method, msg.cls) == (Method.BINDING, MsgClass.REQUEST)
    assert msg.get_int(Attr.PRIORITY) == 0x6E0001FF
    assert msg.get_int(Attr.ICE_CONTROLLED) == 0x932FF9B151263B36
    assert stun.check_integrity(msg, b"VOkJxbRl1RmTxUk/WvJxBt")


def test_long_term_key_matches_vector() -> None:
    vector = VECTORS["rfc5769_2_4_sample_request_long_term"]
    key = long_term_key(vector["username"], vector["realm"], vector["password"])
    assert key.hex() == vector["hmac_key_hex"]
    assert long_term_key("user", "realm", "pass").hex() == "8493fbc53ba582fb4c044c456bdc40eb"


def test_sha256_vector_userhash_and_algorithm() -> None:
    msg = stun.decode(
        bytes.fromhex(VECTORS["rfc8489_b_1_sample_request_long_term_sha256_errata6268"]["hex"])
    )
    assert msg.get(Attr.PASSWORD_ALGORITHM) == (2,)
    assert msg.get_bytes(Attr.USERHASH) is not None
    assert msg.integrity_sha256_offset is not None and msg.integrity_offset is None


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_vector_round_trips(name: str) -> None:
    msg = stun.decode(bytes.fromhex(VECTORS[name]["hex"]))
    key = bytes.fromhex(VECTORS[name]["hmac_key_hex"])
    sha256 = msg.integrity_sha256_offset is not None
    again = stun.decode(stun.encode(msg, key=key, sha256=sha256, fingerprint=msg.has_fingerprint))
    strip = (Attr.MESSAGE_INTEGRITY, Attr.MESSAGE_INTEGRITY_SHA256, Attr.FINGERPRINT)
    assert [a for a in again.attributes if a[0] not in strip] == [
        a for a in msg.attributes if a[0] not in strip
    ]
    assert stun.check_integrity(again, key)


def test_encode_all_attribute_shapes() -> None:
    msg = Message(Method.ALLOCATE, MsgClass.ERROR, b"t" * 12)
    msg.add(Attr.ERROR_CODE, ErrorCode(438, "Stale Nonce"))
    msg.add(Attr.UNKNOWN_ATTRIBUTES, (0x0030, 0x0031, 0x0032))
    msg.add(Attr.XOR_PEER_ADDRESS, ("2001:db8::5", 65535))
    msg.add(Attr.MAPPED_ADDRESS, ("10.1.2.3", 0))
    msg.add(Attr.ADDRESS_ERROR_CODE, AddressErrorCode(2, 440, "Address Family not Supported"))
    msg.add(Attr.DONT_FRAGMENT, b"")
    msg.add(Attr.CHANNEL_NUMBER, 0x4ABC)
    msg.add(Attr.REQUESTED_TRANSPORT, 17)
    msg.add(Attr.DATA, b"xyz")
    msg.add(0xC001, b"opaque unknown optional")
    decoded = stun.decode(stun.encode(msg, fingerprint=True))
    assert decoded.attributes == msg.attributes[:-1]  # unknown optional ones are ignored
    assert decoded.get_error() == ErrorCode(438, "Stale Nonce")


def test_message_type_interleaving() -> None:
    for method in (0x001, 0x003, 0x009, 0x0FF, 0xFFF):
        for cls in MsgClass:
            assert stun.split_type(stun.message_type(method, cls)) == (method, cls)
    assert stun.message_type(Method.BINDING, MsgClass.SUCCESS) == 0x0101
    assert stun.message_type(Method.DATA, MsgClass.INDICATION) == 0x0017


def _message(*attrs: tuple[int, bytes]) -> bytes:
    body = b"".join(struct.pack("!HH", t, len(v)) + v + bytes(-len(v) % 4) for t, v in attrs)
    return struct.pack("!HHI12s", 0x0001, len(body), stun.MAGIC_COOKIE, b"k" * 12) + body


MALFORMED = {
    "short header": b"\x00\x01\x00",
    "top bits": b"\xc0\x01\x00\x00\x21\x12\xa4\x42" + b"k" * 12,
    "cookie": b"\x00\x01\x00\x00\x21\x12\xa4\x43" + b"k" * 12,
    "length not multiple of 4": b"\x00\x01\x00\x02\x21\x12\xa4\x42" + b"k" * 12 + b"\0\0",
    "length too long": b"\x00\x01\x00\x08\x21\x12\xa4\x42" + b"k" * 12 + b"\0\0\0\0",
    "length too short": _message((Attr.SOFTWARE, b"abcd"))[:-4],
    "attribute overrun": _message()[:2] + b"\x00\x04" + _message()[4:] + b"\x80\x22\x00\x08",
    "bad ipv4 length": _message((Attr.XOR_PEER_ADDRESS, b"\x00\x01\x00\x01\x01\x02\x03")),
    "bad family": _message((Attr.XOR_PEER_ADDRESS, b"\x00\x03\x00\x01\x01\x02\x03\x04")),
    "ipv6 length": _message((Attr.XOR_MAPPED_ADDRESS, b"\x00\x02\x00\x01" + bytes(12))),
    "utf8": _message((Attr.USERNAME, b"\xff\xfe")),
    "username too long": _message((Attr.USERNAME, b"a" * 514)),
    "lifetime size": _message((Attr.LIFETIME, b"\0\0\0")),
    "error class": _message((Attr.ERROR_CODE, b"\x00\x00\x02\x00")),
    "error number": _message((Attr.ERROR_CODE, b"\x00\x00\x04\x64")),
    "error reserved bits": _message((Attr.ERROR_CODE, b"\x00\x10\x04\x01")),
    "integrity size": _message((Attr.MESSAGE_INTEGRITY, b"\0" * 19)),
    "sha256 size": _message((Attr.MESSAGE_INTEGRITY_SHA256, b"\0" * 18)),
    "flag with value": _message((Attr.DONT_FRAGMENT, b"\0")),
    "odd unknown list": _message((Attr.UNKNOWN_ATTRIBUTES, b"\0\1\0")),
    "fingerprint not last": _message((Attr.FINGERPRINT, b"\0\0\0\0"), (Attr.SOFTWARE, b"x")),
    "fingerprint wrong": _message((Attr.FINGERPRINT, b"\0\0\0\0")),
    "channel number rffu size": _message((Attr.CHANNEL_NUMBER, b"\x40\x00")),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_messages_raise_stun_error(name: str) -> None:
    with pytest.raises(StunError):
        stun.decode(MALFORMED[name])


def test_bad_fingerprint_after_tampering() -> None:
    data = bytearray(bytes.fromhex(VECTORS["rfc5769_2_2_sample_ipv4_response"]["hex"]))
    data[30] ^= 0x01  # inside SOFTWARE
    with pytest.raises(StunError, match="FINGERPRINT does not match"):
        stun.decode(bytes(data))


def test_any_padding_is_accepted_and_covered_by_integrity() -> None:
    data = bytes.fromhex(VECTORS["rfc5769_2_1_sample_request"]["hex"])
    assert b"evtj:h6vY\x20\x20\x20" in data  # padded with spaces, not zeros
    assert stun.decode(data).get_str(Attr.USERNAME) == "evtj:h6vY"


def test_attributes_after_integrity_are_ignored() -> None:
    msg = Message(Method.BINDING, MsgClass.REQUEST, b"a" * 12).add(Attr.SOFTWARE, "x")
    data = stun.encode(msg, key=b"key")
    tail = struct.pack("!HH", 0x0030, 4) + b"junk"  # unknown required, after MI
    patched = data[:2] + struct.pack("!H", len(data) - 20 + 8) + data[4:] + tail
    decoded = stun.decode(patched)
    assert decoded.unknown_required == ()
    assert stun.check_integrity(decoded, b"key")


def test_unknown_required_attributes_are_listed_once() -> None:
    decoded = stun.decode(_message((0x0030, b"a"), (0x0030, b"b"), (0x7FFF, b""), (0x8FFF, b"")))
    assert decoded.unknown_required == (0x0030, 0x7FFF)


def test_encode_refuses_bad_values() -> None:
    for attr, value in (
        (Attr.LIFETIME, -1),
        (Attr.LIFETIME, "600"),
        (Attr.XOR_PEER_ADDRESS, ("not an ip", 1)),
        (Attr.XOR_PEER_ADDRESS, ("1.2.3.4", 70000)),
        (Attr.USERNAME, "u" * 600),
        (Attr.ERROR_CODE, ErrorCode(200, "ok")),
        (0xC002, 5),
    ):
        with pytest.raises(StunError):
            stun.encode(Message(1, 0, b"z" * 12, [(attr, value)]))
    with pytest.raises(StunError):
        stun.encode(Message(1, 0, b"short"))


def test_channel_data_codec_and_stream_framing() -> None:
    assert datapath.decode_channel_data(b"\x40\x00\x00\x02hi\x00\x00") == (0x4000, b"hi")
    assert datapath.decode_channel_data(b"\x7f\xff\x00\x00") == (0x7FFF, b"")
    with pytest.raises(StunError):
        datapath.decode_channel_data(b"\x40\x00\x00\x03hi")
    with pytest.raises(StunError):
        datapath.decode_channel_data(b"\x80\x00\x00\x00")
    assert (
        datapath.encode_channel_data(0x4000, b"hello", pad=True) == b"\x40\x00\x00\x05hello\0\0\0"
    )
    assert datapath.stream_frame_length(b"\x40\x00\x00\x05") == 12
    assert datapath.stream_frame_length(b"\x00\x01\x00\x08") == 28
    for head in (b"\x00\x01\x00\x07", b"\x80\x00\x00\x00", b"\x16\x03\x01\x00"):
        with pytest.raises(StunError):
            datapath.stream_frame_length(head)


def test_fast_data_indication_matches_generic_decoder() -> None:
    frame = datapath.encode_data_indication(("198.51.100.1", 4242), b"payload!!")
    msg = stun.decode(frame)
    assert (msg.method, msg.cls) == (Method.DATA, MsgClass.INDICATION)
    assert msg.get_address(Attr.XOR_PEER_ADDRESS) == ("198.51.100.1", 4242)
    assert msg.get_bytes(Attr.DATA) == b"payload!!"
