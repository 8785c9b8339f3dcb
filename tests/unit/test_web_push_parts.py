"""Web Push's pure parts (issue 16): RFC 8291's own example, the endpoint rule, the VAPID
token, and the payload kept under the contract's 3,000 bytes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from appliance.errors import BadRequest
from appliance.notify.missed import message_payload
from appliance.push import b64, ece, endpoints
from appliance.push.vapid import VapidKey

# RFC 8291 section 5 (the example).
PLAINTEXT = b"When I grow up, I want to be a watermelon"
AS_PRIVATE = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"
UA_PUBLIC = (
    "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
)
AUTH = "BTBZMqHH6r4Tts7J_aSIgg"
SALT = "DGv6ra1nlYgDCS1FRnbzlw"
BODY = (
    "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS"
    "6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Q"
    "ulcy4a-fN"
)


def test_encryption_matches_rfc_8291s_example() -> None:
    private = ec.derive_private_key(int.from_bytes(b64.decode(AS_PRIVATE), "big"), ec.SECP256R1())
    body = ece.encrypt(
        PLAINTEXT,
        b64.decode(UA_PUBLIC),
        b64.decode(AUTH),
        salt=b64.decode(SALT),
        private_key=private,
    )
    assert b64.encode(body) == BODY


def test_only_https_to_a_browser_vendors_push_service_is_accepted() -> None:
    key, auth = UA_PUBLIC, AUTH
    for good in (
        "https://fcm.googleapis.com/fcm/send/abc",
        "https://updates.push.services.mozilla.com/wpush/v2/abc",
        "https://web.push.apple.com/QGx",
        "https://wns2-par02p.notify.windows.com/w/?token=x",
    ):
        assert endpoints.check(good, key, auth, any_endpoint=False).endpoint == good
    for bad in (
        "http://fcm.googleapis.com/fcm/send/abc",  # not HTTPS
        "https://192.168.1.1/admin",  # the office's own network
        "https://fcm.googleapis.com.evil.example/x",
        "https://evilfcm.googleapis.com.example/x",
        "https://user:pw@fcm.googleapis.com/x",
        "https://fcm.googleapis.com:99999/x",
        "https://" + "a" * 1030,
        "not a url",
    ):
        with pytest.raises(BadRequest):
            endpoints.check(bad, key, auth, any_endpoint=False)
    with pytest.raises(BadRequest, match="p256dh"):
        endpoints.check("https://fcm.googleapis.com/x", "AAAA", auth, any_endpoint=False)
    with pytest.raises(BadRequest, match="auth"):
        endpoints.check(
            "https://fcm.googleapis.com/x", key, b64.encode(b"x" * 8), any_endpoint=False
        )
    loopback = "http://127.0.0.1:9/x"
    assert endpoints.check(loopback, key, auth, any_endpoint=True).endpoint == loopback


def test_the_vapid_key_is_kept_private_and_signs_a_token_for_the_push_services_origin(
    tmp_path: Path,
) -> None:
    key = VapidKey.load_or_create(tmp_path)
    assert (tmp_path / "push-vapid.pem").stat().st_mode & 0o777 == 0o600
    assert VapidKey.load_or_create(tmp_path).public_key == key.public_key  # kept, not remade
    header = key.authorization("https://fcm.googleapis.com", "mailto:admin@pychat.local", 1000)
    token, public = header.removeprefix("vapid t=").split(", k=")
    assert public == key.public_key
    claims = json.loads(b64.decode(token.split(".")[1]))
    assert claims == {"aud": "https://fcm.googleapis.com", "exp": 1000 + 12 * 3600,
                      "sub": "mailto:admin@pychat.local"}  # fmt: skip


def test_a_long_message_is_cut_to_fit_the_payload_limit() -> None:
    row = {
        "id": 7, "room_id": 3, "thread_id": None, "author_name": "Ann" * 20,
        "room_kind": "channel", "room_name": "ops", "body": '"\\' * 5000,
    }  # fmt: skip
    payload = message_payload(row, hide_text=False, unread=None)
    size = len(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode())
    assert size <= 3000 and payload["body"]
    assert payload["title"] == f"{'Ann' * 20} in #ops"
    assert message_payload(row, hide_text=True, unread=2)["body"] == ""
