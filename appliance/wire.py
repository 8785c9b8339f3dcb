"""Encoding server → client frames. Events are serialised once and shared by every socket."""

from __future__ import annotations

import json
from typing import Any

from .db import Event


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def event_frame(event: Event) -> bytes:
    # data_json is stored already encoded: splice it in rather than decode and re-encode.
    room = "null" if event.room_id is None else str(event.room_id)
    return (
        f'{{"type":"event","seq":{event.seq},"kind":{dumps(event.kind)},"room":{room},'
        f'"data":{event.data_json}}}'
    ).encode()


def frame(obj: dict[str, Any]) -> bytes:
    return dumps(obj).encode()


def reply_ok(req: str | None, data: dict[str, Any]) -> bytes:
    return frame({"type": "reply", "req": req, "ok": True, "data": data})


def reply_error(req: str | None, error: dict[str, Any]) -> bytes:
    return frame({"type": "reply", "req": req, "ok": False, **error})
