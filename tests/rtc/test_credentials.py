"""TURN REST credentials, long-term keys, nonces and the secret file."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from pathlib import Path

import pytest

from appliance.rtc.credentials import (
    NonceIssuer,
    NonceState,
    RestAuth,
    SecretFileError,
    load_or_create_secret,
    long_term_key,
    make_turn_credentials,
    read_secret,
    rest_password,
)

from .fakes import SECRET, FakeClock


def test_make_turn_credentials_shape_and_values() -> None:
    creds = make_turn_credentials(SECRET, 42, 3600, 1_700_000_000.5, ["turn:h:3478"])
    assert creds == {
        "urls": ["turn:h:3478"],
        "username": "1700003600:42",
        "credential": base64.b64encode(
            hmac.new(SECRET, b"1700003600:42", hashlib.sha1).digest()
        ).decode(),
        "ttl": 3600,
    }
    with pytest.raises(ValueError):
        make_turn_credentials(SECRET, 1, 0, 0.0, [])


def test_rest_auth_accepts_until_expiry() -> None:
    wall = FakeClock(1_700_000_000.0)
    auth = RestAuth(SECRET, clock=wall)
    username = "1700000010:42"
    cred = auth.lookup(username, "realm")
    assert cred is not None and cred.user == "42"
    assert cred.key == long_term_key(username, "realm", rest_password(SECRET, username))
    wall.advance(10)
    assert auth.lookup(username, "realm") is None


@pytest.mark.parametrize(
    "username",
    ["alice", ":42", "1700000010:", "-5:42", "17e9:42", "1" * 13 + ":42", "99999999999:\x00x",
     "١٧٠٠٠٠٠٠٠١:42", "99999999999:" + "u" * 129],
)  # fmt: skip
def test_rest_auth_refuses_malformed_usernames(username: str) -> None:
    assert RestAuth(SECRET, clock=FakeClock(0.0)).lookup(username, "realm") is None


def test_rest_auth_refuses_a_short_secret() -> None:
    with pytest.raises(ValueError):
        RestAuth(b"short")


def test_nonces_are_bound_signed_and_time_limited() -> None:
    clock = FakeClock(5000.0)
    nonces = NonceIssuer(b"server key", clock=clock, lifetime_s=600)
    client = ("192.0.2.1", 4000)
    nonce = nonces.issue(client)
    assert len(nonce) < 128 and nonce != nonces.issue(client)
    assert nonces.check(nonce, client) is NonceState.VALID
    assert nonces.check(nonce, ("192.0.2.1", 4001)) is NonceState.INVALID
    assert NonceIssuer(b"other key", clock=clock).check(nonce, client) is NonceState.INVALID
    issued, salt, mac = nonce.split(".")
    assert nonces.check(f"{int(issued, 16) + 100:x}.{salt}.{mac}", client) is NonceState.INVALID
    for bad in ("", "a.b", "x.y.z", "a" * 200):
        assert nonces.check(bad, client) is NonceState.INVALID
    clock.advance(599)
    assert nonces.check(nonce, client) is NonceState.VALID
    clock.advance(1)
    assert nonces.check(nonce, client) is NonceState.STALE


def test_secret_file_is_created_0600_and_reread(tmp_path: Path) -> None:
    path = tmp_path / "turn.secret"
    secret = load_or_create_secret(path)
    assert len(secret) >= 32
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert load_or_create_secret(path) == secret
    assert read_secret(path) == secret


def test_secret_file_with_loose_mode_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "turn.secret"
    path.write_bytes(b"a-long-enough-secret-value\n")
    path.chmod(0o644)
    with pytest.raises(SecretFileError, match="must be 0600"):
        read_secret(path)
    path.chmod(0o600)
    assert read_secret(path) == b"a-long-enough-secret-value"


def test_secret_file_too_short_or_missing(tmp_path: Path) -> None:
    path = tmp_path / "short"
    path.write_bytes(b"tiny")
    path.chmod(0o600)
    with pytest.raises(SecretFileError, match="fewer than 16"):
        read_secret(path)
    with pytest.raises(SecretFileError, match="cannot open"):
        read_secret(tmp_path / "missing")
    link = tmp_path / "link"
    link.symlink_to(path)
    with pytest.raises(SecretFileError):
        read_secret(link)
