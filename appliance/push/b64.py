"""URL-safe base64 without padding, as Web Push writes keys and tokens."""

from __future__ import annotations

import base64
import binascii


def encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def decode(text: str) -> bytes:
    """Accepts padded or unpadded input, url-safe or standard alphabet; ValueError otherwise."""
    clean = text.strip().replace("+", "-").replace("/", "_").rstrip("=")
    if not clean.isascii():
        raise ValueError("not base64")
    try:
        return base64.urlsafe_b64decode(clean + "=" * (-len(clean) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("not base64") from None
