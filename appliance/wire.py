"""Encoding server → client frames. Events are serialised once and shared by every socket."""

from __future__ import annotations

import json
import re
from typing import Any

from .db import Event

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")


def _no_constant(name: str) -> Any:
    # Python's json reads NaN and ±Infinity; they are not JSON and browsers cannot parse them.
    raise ValueError(f"{name} is not a JSON number")


# One decoder, made once. Overflowing literals (1e999) still read as inf: fields that
# take numbers check them (schemas.json_object, painter coordinates), and dumps refuses them.
_DECODER = json.JSONDecoder(parse_constant=_no_constant)


def loads(text: str) -> Any:
    """Client JSON. ValueError for bad JSON, bad numbers (NaN, Infinity), too deep nesting,
    and text that is not Unicode (a lone surrogate escape like "\\ud800", which could not
    be stored or echoed)."""
    try:
        obj = _DECODER.decode(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    # Only frames with surrogate escapes pay for the check (browsers send emoji unescaped).
    if _SURROGATE_ESCAPE.search(text):
        try:
            json.dumps(obj, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("lone surrogate") from None
    return obj


def utf8_length_over(text: str, limit: int) -> bool:
    """Whether text takes more than `limit` bytes in UTF-8, encoding only when unsure."""
    if len(text) > limit:
        return True
    if len(text) * 4 <= limit:
        return False
    return len(text.encode("utf-8", "surrogatepass")) > limit


# One encoder, made once (json.dumps makes one per call with these options: ~1 µs, and a
# frame takes several). allow_nan=False: a NaN would make a frame no browser can parse;
# fail here instead.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def dumps(obj: Any) -> str:
    return _ENCODER.encode(obj)


def ws_text_frame(payload: bytes) -> bytes:
    """RFC 6455 §5.2: a final, unmasked text frame (server to client), header and payload
    in one buffer so a single transport write sends it whole."""
    size = len(payload)
    if size < 126:
        header = bytes((0x81, size))
    elif size < 1 << 16:
        header = bytes((0x81, 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((0x81, 127)) + size.to_bytes(8, "big")
    return header + payload


def ws_text_payload(frame: bytes) -> bytes:
    """The payload of a frame `ws_text_frame` made."""
    size = frame[1]
    return frame[2 if size < 126 else 4 if size == 126 else 10 :]


def event_frame(event: Event) -> bytes:
    # data_json is stored already encoded: splice it in rather than decode and re-encode.
    room = "null" if event.room_id is None else str(event.room_id)
    return (
        f'{{"type":"event","seq":{event.seq},"kind":{dumps(event.kind)},"room":{room},'
        f'"data":{event.data_json}}}'
    ).encode()


def frame(obj: dict[str, Any]) -> bytes:
    return dumps(obj).encode()


class Encoded(dict[str, Any]):
    """An object that carries its JSON too, encoded once for the event that stored it: a
    reply of it alone (`{"message": ...}`) splices that text instead of encoding again.
    Treat it as read-only: a change would not reach the text."""

    __slots__ = ("json",)

    def __init__(self, obj: dict[str, Any], encoded: str) -> None:
        super().__init__(obj)
        self.json = encoded


def reply_ok(req: str | None, data: dict[str, Any]) -> bytes:
    if len(data) == 1:
        ((key, value),) = data.items()
        if type(value) is Encoded:
            return (
                f'{{"type":"reply","req":{dumps(req)},"ok":true,'
                f'"data":{{{dumps(key)}:{value.json}}}}}'
            ).encode()
    return frame({"type": "reply", "req": req, "ok": True, "data": data})


def reply_error(req: str | None, error: dict[str, Any]) -> bytes:
    return frame({"type": "reply", "req": req, "ok": False, **error})
