"""The stand-in hash an unknown username is checked against: made without running scrypt
(nothing at start-up), yet checking a password against it runs one at the server's cost,
like a real account's, and no password ever matches it."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator

import pytest

from appliance.passwords import dummy_hash, hash_password_sync, verify_password_sync

N = 1024


@pytest.fixture
def scrypt_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The cost (n) of every scrypt run, counted around the real hashlib.scrypt."""
    calls: list[int] = []
    real = hashlib.scrypt

    def counted(password: bytes, **kw: int | bytes) -> bytes:
        calls.append(int(kw["n"]))
        return real(password, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(hashlib, "scrypt", counted)
    yield calls


def test_it_is_made_without_scrypt_and_checked_with_one_at_the_real_cost(
    scrypt_calls: list[int],
) -> None:
    stand_in = dummy_hash(N)
    assert scrypt_calls == []  # free to make: the server makes one at every start
    real = hash_password_sync("a real password", N)
    scheme, n, r, p, salt, key = stand_in.split("$")
    assert (scheme, n, r, p) == tuple(real.split("$")[:4])  # the same cost as an account's
    assert len(base64.b64decode(salt)) == 16 and len(base64.b64decode(key)) == 32
    scrypt_calls.clear()
    for guess in ("", "a real password", "password", "x" * 1024):
        assert verify_password_sync(guess, stand_in) is False
    assert scrypt_calls == [N] * 4  # each check ran a scrypt, as for a known user


def test_every_stand_in_is_different() -> None:
    assert len({dummy_hash(N) for _ in range(20)}) == 20
