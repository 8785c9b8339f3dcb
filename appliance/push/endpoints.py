"""Which push endpoints the server will post to, and a subscription's keys checked.

A subscription's endpoint is a URL the browser got from its vendor; the server later posts
to it. Left open, anyone signed in could make the appliance post to any host on the LAN, so
only HTTPS to the browser vendors' push services is accepted (Google, Mozilla, Apple,
Microsoft); `push.test_endpoints = "on"` accepts any URL, for tests only.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec

from ..errors import BadRequest
from . import b64

MAX_ENDPOINT_CHARS = 1024
VENDOR_HOSTS = (
    "fcm.googleapis.com",  # Chrome, Edge on Android, Samsung Internet, Opera
    "android.googleapis.com",
    "updates.push.services.mozilla.com",  # Firefox
    "push.services.mozilla.com",
    "push.apple.com",  # Safari: web.push.apple.com
    "notify.windows.com",  # Edge on Windows: *.notify.windows.com
)


@dataclass(frozen=True)
class Subscription:
    endpoint: str
    p256dh: bytes
    auth: bytes


def origin(endpoint: str) -> str:
    """The push service's origin: the `aud` of its VAPID token."""
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.netloc}"


def _vendor(host: str) -> bool:
    return any(host == v or host.endswith("." + v) for v in VENDOR_HOSTS)


def check(endpoint: str, p256dh: str, auth: str, *, any_endpoint: bool) -> Subscription:
    if len(endpoint) > MAX_ENDPOINT_CHARS:
        raise BadRequest(f"endpoint may have at most {MAX_ENDPOINT_CHARS} characters.")
    try:
        parts = urlsplit(endpoint)
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018 (raises ValueError for a bad port)
    except ValueError:
        raise BadRequest("endpoint is not a URL.") from None
    if not endpoint.isascii() or not host or parts.username or parts.password:
        raise BadRequest("endpoint is not a URL.")
    if not any_endpoint:
        if parts.scheme != "https":
            raise BadRequest("endpoint must be an https URL.")
        if not _vendor(host):
            raise BadRequest("endpoint is not a browser vendor's push service.")
    elif parts.scheme not in ("https", "http"):
        raise BadRequest("endpoint must be an http or https URL.")
    try:
        key = b64.decode(p256dh)
        secret = b64.decode(auth)
    except ValueError:
        raise BadRequest("keys must be base64url.") from None
    if len(secret) != 16:
        raise BadRequest("keys.auth must be 16 bytes.")
    try:
        if len(key) != 65:
            raise ValueError
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), key)
    except ValueError:
        raise BadRequest("keys.p256dh must be an uncompressed P-256 point.") from None
    return Subscription(endpoint, key, secret)
