"""TURN credentials: the TURN REST scheme, long-term keys, nonces and the secret file.

TURN passwords are never stored. A username is ``"<expiry>:<user id>"`` and its
password is ``base64(HMAC-SHA1(secret, username))``, so one shared secret lets the web
layer hand out time-limited credentials that this server checks without a database.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import os
import secrets
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

Clock = Callable[[], float]

#: Secrets shorter than this are refused: the HMAC is only as strong as its key.
MIN_SECRET_BYTES = 16
_MAX_USER_CHARS = 128


class SecretFileError(RuntimeError):
    """The secret file is missing, unreadable, too permissive or too short."""


def rest_password(secret: bytes, username: str) -> str:
    """The TURN REST password: base64(HMAC-SHA1(secret, username))."""
    mac = hmac.new(secret, username.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(mac).decode("ascii")


def long_term_key(username: str, realm: str, password: str) -> bytes:
    """RFC 8489 §9.2.2: key = MD5(username ":" realm ":" password)."""
    text = f"{username}:{realm}:{password}".encode()
    return hashlib.md5(text, usedforsecurity=False).digest()


def make_turn_credentials(
    secret: bytes, user_id: int, ttl_s: int, now: float, urls: list[str]
) -> dict[str, object]:
    """Credentials for one user, valid for ``ttl_s`` seconds from ``now`` (Unix time).

    The shape is the one WebRTC's ``RTCIceServer`` and the TURN REST API draft use:
    ``{"urls": [...], "username": "<expiry>:<user id>", "credential": ..., "ttl": ...}``.
    """
    if ttl_s <= 0:
        raise ValueError("ttl_s must be positive")
    username = f"{int(now) + ttl_s}:{user_id}"
    return {
        "urls": list(urls),
        "username": username,
        "credential": rest_password(secret, username),
        "ttl": ttl_s,
    }


@dataclass(frozen=True, slots=True)
class Credential:
    """A username accepted by the server: who it is and its long-term key."""

    user: str
    username: str
    key: bytes


class RestAuth:
    """Checks TURN REST usernames: not expired, not revoked, then derives the long-term key.

    ``clock`` is wall-clock time (the expiry in the username is Unix time). ``revoked``
    says whether a user's credentials no longer count (a deactivated account), however
    long they had to run.
    """

    def __init__(
        self,
        secret: bytes,
        *,
        clock: Clock = time.time,
        revoked: Callable[[str], bool] | None = None,
    ) -> None:
        if len(secret) < MIN_SECRET_BYTES:
            raise ValueError(f"TURN secret must be at least {MIN_SECRET_BYTES} bytes")
        self._secret = secret
        self._clock = clock
        self._revoked = revoked

    def lookup(self, username: str, realm: str) -> Credential | None:
        expiry_text, sep, user = username.partition(":")
        if not sep or not user or len(user) > _MAX_USER_CHARS:
            return None
        if not (expiry_text.isascii() and expiry_text.isdigit()) or len(expiry_text) > 12:
            return None
        if not user.isprintable():
            return None
        if int(expiry_text) <= self._clock():
            return None
        if self._revoked is not None and self._revoked(user):
            return None
        password = rest_password(self._secret, username)
        return Credential(user, username, long_term_key(username, realm, password))


class NonceState(enum.Enum):
    VALID = "valid"
    STALE = "stale"
    INVALID = "invalid"


class NonceIssuer:
    """Unforgeable, time-limited nonces bound to the client's address.

    A nonce is ``<issued, hex>.<random>.<HMAC-SHA256(server key, issued, random,
    client address)>`` truncated; nothing is stored. RFC 8489 §9.2.4: "The server MUST
    NOT choose the same NONCE for two requests unless they have the same source IP
    address and port."
    """

    def __init__(self, key: bytes, *, clock: Clock, lifetime_s: float = 600.0) -> None:
        self._key = key
        self._clock = clock
        self._lifetime = lifetime_s

    def _mac(self, issued: str, salt: str, client: tuple[str, int]) -> str:
        text = f"{issued}.{salt}.{client[0]}.{client[1]}".encode()
        return hmac.new(self._key, text, hashlib.sha256).hexdigest()[:32]

    def issue(self, client: tuple[str, int]) -> str:
        issued = format(int(self._clock()), "x")
        salt = secrets.token_hex(4)
        return f"{issued}.{salt}.{self._mac(issued, salt, client)}"

    def check(self, nonce: str, client: tuple[str, int]) -> NonceState:
        parts = nonce.split(".")
        if len(parts) != 3 or len(nonce) > 64:
            return NonceState.INVALID
        issued, salt, mac = parts
        if not hmac.compare_digest(mac.encode(), self._mac(issued, salt, client).encode()):
            return NonceState.INVALID
        try:
            age = self._clock() - int(issued, 16)
        except ValueError:
            return NonceState.INVALID
        if age < -1 or age >= self._lifetime:
            return NonceState.STALE
        return NonceState.VALID


# -- the shared secret file -----------------------------------------------------------


def generate_secret() -> bytes:
    """A new random secret as URL-safe text (also usable as ``turnutils_uclient -W``)."""
    return secrets.token_urlsafe(32).encode("ascii")


def read_secret(path: Path) -> bytes:
    """Read the secret; the file must be mode 0600 (or stricter) and hold 16+ bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        raise SecretFileError(f"turn.secret_file: cannot open {path}: {exc.strerror}") from exc
    with os.fdopen(fd, "rb") as handle:
        mode = stat.S_IMODE(os.fstat(handle.fileno()).st_mode)
        if mode & 0o077:
            raise SecretFileError(f"turn.secret_file: {path} has mode {mode:04o}; it must be 0600")
        secret = handle.read(4096).strip()
    if len(secret) < MIN_SECRET_BYTES:
        raise SecretFileError(f"turn.secret_file: {path} holds fewer than {MIN_SECRET_BYTES} bytes")
    return secret


def load_or_create_secret(path: Path) -> bytes:
    """Read the secret file, creating it with a fresh secret and mode 0600 if missing.

    Blocking file I/O: call it from a thread (``asyncio.to_thread``) inside a loop.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        return read_secret(path)
    except OSError as exc:
        raise SecretFileError(f"turn.secret_file: cannot create {path}: {exc.strerror}") from exc
    secret = generate_secret()
    with os.fdopen(fd, "wb") as handle:
        handle.write(secret + b"\n")
    return secret
