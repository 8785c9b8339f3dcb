"""The root side: answer one request on one connection (pychat-helper@.service).

systemd listens on /run/pychat-helper.sock (root:pychat, 0660) and starts one short-lived
`pychat-helper@` instance per connection (Accept=yes), handing it the connection as fd 3.
The instance checks who is calling (SO_PEERCRED: root or the pychat user), reads one
request line within a deadline, validates it completely, carries out the plan and answers
one line. It trusts nothing it reads: the server that connects may itself be compromised.
"""

from __future__ import annotations

import logging
import os
import pwd
import socket
import struct
import time
from collections.abc import MutableMapping

from .commands import UnknownCommand, build_plan
from .executor import Executor, StepFailed
from .protocol import MAX_LINE, ProtocolError, Reply, decode_request, encode_reply
from .validate import InvalidArgument

log = logging.getLogger(__name__)

READ_DEADLINE_S = 10.0
_UCRED = struct.Struct("=iII")  # pid, uid, gid
_SD_LISTEN_FDS_START = 3


def allowed_uids(user: str) -> frozenset[int]:
    """Root and `user` (the service account); only root when the user does not exist."""
    try:
        return frozenset({0, pwd.getpwnam(user).pw_uid})
    except KeyError:
        log.warning("user %r does not exist; only root may use the helper", user)
        return frozenset({0})


def peer_uid(sock: socket.socket) -> int:
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    _, uid, _ = _UCRED.unpack(raw)
    return int(uid)


def handle_connection(
    sock: socket.socket,
    *,
    executor: Executor,
    allowed: frozenset[int],
    deadline_s: float = READ_DEADLINE_S,
) -> Reply:
    """Answer the one request on `sock` and return the reply that was sent."""
    reply = _answer(sock, executor=executor, allowed=allowed, deadline_s=deadline_s)
    try:
        sock.settimeout(deadline_s)
        sock.sendall(encode_reply(reply))
        sock.shutdown(socket.SHUT_WR)
        _discard_rest(sock)
    except OSError as e:
        log.warning("could not send the reply: %s", e)
    return reply


def _discard_rest(sock: socket.socket) -> None:
    """Read (and ignore) what the caller still sends, briefly: closing a unix socket with
    unread data resets the connection, and the caller would lose the reply."""
    sock.settimeout(1.0)
    budget = MAX_LINE * 2
    while budget > 0:
        try:
            chunk = sock.recv(min(budget, MAX_LINE))
        except (TimeoutError, OSError):
            return
        if not chunk:
            return
        budget -= len(chunk)


def _answer(
    sock: socket.socket, *, executor: Executor, allowed: frozenset[int], deadline_s: float
) -> Reply:
    uid = peer_uid(sock)
    if uid not in allowed:
        log.warning("refused a connection from uid %d", uid)
        return Reply(False, "only root and the pychat service may ask", "forbidden")
    try:
        request = decode_request(_read_line(sock, deadline_s))
    except ProtocolError as e:
        log.warning("uid %d: bad request: %s", uid, e)
        return Reply(False, f"bad request: {e}", "bad_request")
    # Never log request.secret.
    what = " ".join((request.command, *request.args))
    try:
        plan = build_plan(request.command, request.args, request.secret)
    except UnknownCommand:
        log.warning("uid %d: unknown command %r", uid, request.command)
        return Reply(False, f"unknown command {request.command!r}", "unknown_command")
    except InvalidArgument as e:
        log.warning("uid %d: %s: %s", uid, request.command, e)
        return Reply(False, str(e), "invalid_argument")
    log.info("uid %d: %s", uid, what)
    try:
        message = executor.execute(plan)
    except StepFailed as e:
        log.error("uid %d: %s failed: %s", uid, request.command, e)
        return Reply(False, str(e), "failed")
    except Exception:
        log.exception("uid %d: %s failed unexpectedly", uid, request.command)
        return Reply(False, f"{request.command} failed; see the helper's log", "failed")
    log.info("uid %d: %s: %s", uid, request.command, message)
    return Reply(True, message)


def _read_line(sock: socket.socket, deadline_s: float) -> bytes:
    """One line of at most MAX_LINE bytes, all of it within `deadline_s` (no slow drip)."""
    deadline = time.monotonic() + deadline_s
    data = bytearray()
    while b"\n" not in data:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ProtocolError("no complete request in time")
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(MAX_LINE + 1 - len(data))
        except TimeoutError:
            raise ProtocolError("no complete request in time") from None
        if not chunk:
            raise ProtocolError("connection closed before a complete request")
        data += chunk
        if len(data) > MAX_LINE:
            raise ProtocolError(f"line longer than {MAX_LINE} bytes")
    line, _, rest = bytes(data).partition(b"\n")
    if rest:
        raise ProtocolError("one request per connection")
    return line + b"\n"


def socket_from_systemd(environ: MutableMapping[str, str] | None = None) -> socket.socket:
    """The connection systemd passed (sd_listen_fds: $LISTEN_PID, $LISTEN_FDS=1, fd 3)."""
    env: MutableMapping[str, str] = os.environ if environ is None else environ
    pid, count = env.get("LISTEN_PID"), env.get("LISTEN_FDS")
    for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        env.pop(name, None)  # not for the programs the plan runs
    if pid != str(os.getpid()) or count != "1":
        raise RuntimeError("expected one socket from systemd (LISTEN_PID, LISTEN_FDS=1)")
    sock = socket.socket(fileno=_SD_LISTEN_FDS_START)
    if sock.family != socket.AF_UNIX or sock.type != socket.SOCK_STREAM:
        raise RuntimeError("fd 3 is not a connected unix stream socket")
    return sock
