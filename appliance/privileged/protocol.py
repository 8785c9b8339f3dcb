"""The helper's wire format: one request line and one reply line per connection. Pure.

    request: {"command": "wifi", "args": ["DE", "Office"], "secret": "passphrase"}\\n
    reply:   {"ok": true, "message": "done"}\\n
             {"ok": false, "error": "invalid_argument", "message": "country: ..."}\\n

A line is UTF-8 JSON of at most MAX_LINE bytes, newline included. `secret` is present only
for commands that take one. Anything else (other keys, other types, a longer line) is a
`bad_request`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

MAX_LINE = 4096
ERRORS = (
    "bad_request",  # not a well-formed request
    "unknown_command",
    "invalid_argument",  # the message names the argument
    "forbidden",  # the caller is not root or the pychat user
    "failed",  # a step failed; details are in the helper's journal
)


class ProtocolError(ValueError):
    pass


@dataclass(frozen=True)
class Request:
    command: str
    args: tuple[str, ...] = ()
    secret: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Reply:
    ok: bool
    message: str
    error: str | None = None


def encode_request(request: Request) -> bytes:
    body: dict[str, Any] = {"command": request.command, "args": list(request.args)}
    if request.secret is not None:
        body["secret"] = request.secret
    return _line(body)


def decode_request(line: bytes) -> Request:
    body = _parse(line)
    if not set(body) <= {"command", "args", "secret"} or "command" not in body:
        raise ProtocolError("expected keys: command, args, secret")
    command, args, secret = body["command"], body.get("args", []), body.get("secret")
    if not isinstance(command, str) or not command:
        raise ProtocolError("command: must be a non-empty string")
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise ProtocolError("args: must be a list of strings")
    if secret is not None and not isinstance(secret, str):
        raise ProtocolError("secret: must be a string")
    return Request(command, tuple(args), secret)


def encode_reply(reply: Reply) -> bytes:
    body: dict[str, Any] = {"ok": reply.ok, "message": reply.message}
    if reply.error is not None:
        body["error"] = reply.error
    return _line(body)


def decode_reply(line: bytes) -> Reply:
    body = _parse(line)
    ok, message, error = body.get("ok"), body.get("message"), body.get("error")
    if not isinstance(ok, bool) or not isinstance(message, str):
        raise ProtocolError("reply: expected ok and message")
    if not ok and error not in ERRORS:
        raise ProtocolError("reply: unknown error code")
    return Reply(ok, message, None if ok else error)


def _line(body: dict[str, Any]) -> bytes:
    data = json.dumps(body, ensure_ascii=True, separators=(",", ":")).encode("ascii") + b"\n"
    if len(data) > MAX_LINE:
        raise ProtocolError(f"line longer than {MAX_LINE} bytes")
    return data


def _parse(line: bytes) -> dict[str, Any]:
    if len(line) > MAX_LINE:
        raise ProtocolError(f"line longer than {MAX_LINE} bytes")
    if not line.endswith(b"\n") or b"\n" in line[:-1]:
        raise ProtocolError("expected exactly one line")
    try:
        body = json.loads(line.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ProtocolError("not UTF-8 JSON") from None
    if not isinstance(body, dict):
        raise ProtocolError("expected a JSON object")
    return body


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    body = dict(pairs)
    if len(body) != len(pairs):
        raise ProtocolError("duplicate key")
    return body
