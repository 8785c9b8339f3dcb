"""Password hashing with scrypt (memory-hard), always run off the event loop."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets

_R, _P, _DKLEN = 8, 1, 32
MAX_PASSWORD_BYTES = 1024


def hash_password_sync(password: str, n: int) -> str:
    salt = secrets.token_bytes(16)
    key = _scrypt(password, salt, n, _R, _P)
    return f"scrypt${n}${_R}${_P}${_b64(salt)}${_b64(key)}"


def verify_password_sync(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(key)
        actual = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


# A hash of a password nobody knows: verifying against it costs the same as a real check,
# so a login for an unknown user takes as long as one for a known user.
def dummy_hash(n: int) -> str:
    return hash_password_sync(secrets.token_urlsafe(16), n)


async def hash_password(password: str, n: int) -> str:
    return await asyncio.to_thread(hash_password_sync, password, n)


async def verify_password(password: str, stored: str) -> bool:
    return await asyncio.to_thread(verify_password_sync, password, stored)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=n,
        r=r,
        p=p,
        maxmem=256 * n * r + (1 << 20),
        dklen=_DKLEN,
    )


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")
