"""Fuzzing the decoder and the handler: malformed input may only raise StunError."""

from __future__ import annotations

import contextlib
import json
import socket
import struct
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.rtc import datapath, stun
from appliance.rtc.stun import Attr, Message, MsgClass, StunError
from appliance.rtc.stun_attributes import CODECS, ErrorCode

from .fakes import make_world, tcp_link, udp_link

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_VECTORS = json.loads(Path(__file__).with_name("rfc5769.json").read_text(encoding="utf-8"))
SEEDS = [bytes.fromhex(v["hex"]) for v in _VECTORS["vectors"].values()]


def _decode_or_stun_error(data: bytes) -> Message | None:
    try:
        return stun.decode(data)
    except StunError:
        return None


@FUZZ
@given(st.binary(max_size=200))
def test_random_bytes(data: bytes) -> None:
    _decode_or_stun_error(data)


@st.composite
def framed(draw: st.DrawFn) -> bytes:
    """A header that passes the first checks, then TLVs with arbitrary types and values."""
    attrs = draw(
        st.lists(
            st.tuples(
                st.sampled_from([*CODECS, 0x0003, 0x7FFF, 0xC000]) | st.integers(0, 0xFFFF),
                st.binary(max_size=40),
                st.integers(-4, 4),
            ),
            max_size=6,
        )
    )
    body = b""
    for attr_type, value, skew in attrs:
        length = max(0, min(0xFFFF, len(value) + skew))
        body += struct.pack("!HH", attr_type, length) + value + bytes(-len(value) % 4)
    msg_type = draw(st.integers(0, 0x3FFF))
    tid = draw(st.binary(min_size=12, max_size=12))
    return struct.pack("!HHI12s", msg_type, len(body), stun.MAGIC_COOKIE, tid) + body


@FUZZ
@given(framed())
def test_structured_garbage(data: bytes) -> None:
    msg = _decode_or_stun_error(data)
    if msg is not None:
        stun.check_integrity(msg, b"any key")


@FUZZ
@given(
    st.sampled_from(SEEDS),
    st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=4),
    st.integers(0, 400),
)
def test_mutated_vectors(seed: bytes, flips: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(seed)
    for index, value in flips:
        if index < len(data):
            data[index] = value
    _decode_or_stun_error(bytes(data[: len(data) - cut % len(data)]))


def _ntop(addr: IPv4Address | IPv6Address) -> str:
    """The textual form the codec (and the kernel) use: inet_ntop's."""
    family = socket.AF_INET if addr.version == 4 else socket.AF_INET6
    return socket.inet_ntop(family, addr.packed)


attr_values = st.one_of(
    st.tuples(st.just(Attr.USERNAME), st.text(max_size=40)),
    st.tuples(st.just(Attr.LIFETIME), st.integers(0, 2**32 - 1)),
    st.tuples(st.just(Attr.DATA), st.binary(max_size=64)),
    st.tuples(st.just(Attr.CHANNEL_NUMBER), st.integers(0, 0xFFFF)),
    st.tuples(
        st.just(Attr.XOR_PEER_ADDRESS),
        st.tuples(st.ip_addresses().map(_ntop), st.integers(0, 0xFFFF)),
    ),
    st.tuples(
        st.just(Attr.ERROR_CODE),
        st.builds(ErrorCode, st.integers(300, 699), st.text(max_size=20)),
    ),
    st.tuples(st.just(Attr.UNKNOWN_ATTRIBUTES), st.lists(st.integers(0, 0xFFFF)).map(tuple)),
)


@FUZZ
@given(
    st.integers(0, 0xFFF),
    st.sampled_from(list(MsgClass)),
    st.lists(attr_values, max_size=6),
    st.booleans(),
    st.booleans(),
)
def test_round_trip(method: int, cls: MsgClass, attrs: list, integrity: bool, fp: bool) -> None:  # type: ignore[type-arg]
    msg = Message(method, cls, b"r" * 12, list(attrs))
    key = b"k" if integrity else None
    decoded = stun.decode(stun.encode(msg, key=key, fingerprint=fp))
    assert (decoded.method, decoded.cls) == (method, cls)
    assert decoded.attributes[: len(attrs)] == [tuple(a) for a in attrs]
    if integrity:
        assert stun.check_integrity(decoded, b"k")


@FUZZ
@given(st.binary(max_size=80))
def test_channel_data_and_stream_framing(data: bytes) -> None:
    with contextlib.suppress(StunError):
        datapath.decode_channel_data(data)
    if len(data) >= 4:
        with contextlib.suppress(StunError):
            assert datapath.stream_frame_length(data) >= 4


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(framed(), st.binary(max_size=60), st.sampled_from(SEEDS)), max_size=8))
def test_handler_survives_anything(frames: list[bytes]) -> None:
    world = make_world()
    for link in (udp_link(), tcp_link()):
        for frame in frames:
            world.handler.handle(frame, link)


@st.composite
def send_indications(draw: st.DrawFn) -> bytes:
    """Send indications with arbitrary attributes, sometimes with integrity/fingerprint."""
    msg = Message(stun.Method.SEND, MsgClass.INDICATION, draw(st.binary(min_size=12, max_size=12)))
    for attr, value in draw(st.lists(attr_values, max_size=4)):
        msg.add(attr, value)
    for attr_type, raw in draw(
        st.lists(st.tuples(st.sampled_from([0x0030, 0x8030, Attr.DONT_FRAGMENT]), st.just(b"")))
    ):
        msg.add(attr_type, raw)
    key = draw(st.sampled_from([None, b"k"]))
    data = stun.encode(msg, key=key, sha256=draw(st.booleans()), fingerprint=draw(st.booleans()))
    flips = draw(st.lists(st.tuples(st.integers(20, 400), st.integers(0, 255)), max_size=2))
    mutated = bytearray(data)
    for index, value in flips:
        if index < len(mutated):
            mutated[index] = value
    return bytes(mutated)


@FUZZ
@given(st.one_of(send_indications(), framed()))
def test_fast_send_parser_agrees_with_decode(data: bytes) -> None:
    try:
        fast = datapath.decode_send_indication(data)
    except StunError:
        fast = None
    slow = _decode_or_stun_error(data)
    if slow is None or (slow.method, slow.cls) != (stun.Method.SEND, MsgClass.INDICATION):
        assert fast is None
        return
    assert fast is not None
    assert fast.peer == slow.get_address(Attr.XOR_PEER_ADDRESS)
    assert fast.data == slow.get_bytes(Attr.DATA)
    assert fast.dont_fragment == slow.has(Attr.DONT_FRAGMENT)
    assert fast.unknown_required == bool(slow.unknown_required)
