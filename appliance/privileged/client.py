"""Asking the root helper for something: from the server (async) or the command line.

    from appliance.privileged.client import HelperError, call
    try:
        await call("set-hostname", ["office"])
    except HelperError as e:
        ...  # e.code: invalid_argument, forbidden, failed, unavailable, ...; e.message

Arguments are validated here first, with the helper's own rules, so a mistake is reported
without a round trip; the helper checks everything again.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence
from pathlib import Path

from .commands import UnknownCommand, build_plan
from .protocol import MAX_LINE, ProtocolError, Reply, Request, decode_reply, encode_request
from .validate import InvalidArgument

SOCKET_PATH = Path("/run/pychat-helper.sock")
# Long enough for the slowest plan (wifi: a few programs, each with its own timeout).
TIMEOUT_S = 180.0


class HelperError(Exception):
    """The helper refused or failed, or could not be reached (code `unavailable`)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def check(command: str, args: Sequence[str], secret: str | None = None) -> Request:
    """Validate a request as the helper would; raises HelperError."""
    try:
        build_plan(command, args, secret)
    except UnknownCommand:
        raise HelperError("unknown_command", f"unknown command {command!r}") from None
    except InvalidArgument as e:
        raise HelperError("invalid_argument", str(e)) from None
    return Request(command, tuple(args), secret)


async def call(
    command: str,
    args: Sequence[str] = (),
    *,
    secret: str | None = None,
    socket_path: Path = SOCKET_PATH,
    timeout_s: float = TIMEOUT_S,
) -> str:
    """Send one request and return the helper's message; raises HelperError."""
    request = check(command, args, secret)
    try:
        async with asyncio.timeout(timeout_s):
            reader, writer = await asyncio.open_unix_connection(str(socket_path), limit=MAX_LINE)
            try:
                writer.write(encode_request(request))
                await writer.drain()
                line = await reader.readline()
            finally:
                writer.close()
                await writer.wait_closed()
    except TimeoutError:
        raise HelperError("unavailable", "the privileged helper did not answer in time") from None
    except (OSError, ValueError) as e:
        raise HelperError("unavailable", _unavailable(socket_path, e)) from None
    return _result(line)


def call_sync(
    command: str,
    args: Sequence[str] = (),
    *,
    secret: str | None = None,
    socket_path: Path = SOCKET_PATH,
    timeout: float = TIMEOUT_S,
) -> str:
    """`call` for the command line (blocking)."""
    request = check(command, args, secret)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(socket_path))
            sock.sendall(encode_request(request))
            line = _recv_line(sock)
    except TimeoutError:
        raise HelperError("unavailable", "the privileged helper did not answer in time") from None
    except OSError as e:
        raise HelperError("unavailable", _unavailable(socket_path, e)) from None
    return _result(line)


def _recv_line(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n") and len(data) <= MAX_LINE:
        chunk = sock.recv(MAX_LINE + 1 - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _result(line: bytes) -> str:
    try:
        reply: Reply = decode_reply(line)
    except ProtocolError:
        raise HelperError("unavailable", "the privileged helper gave no valid answer") from None
    if not reply.ok:
        raise HelperError(reply.error or "failed", reply.message)
    return reply.message


def _unavailable(path: Path, error: Exception) -> str:
    reason = getattr(error, "strerror", None) or str(error)
    return f"cannot reach the privileged helper at {path} ({reason}); is pychat-helper.socket on?"
